/**
 * A TCP listener with `tls_passthrough`: TLS is not terminated here. The client's first bytes are read
 * until they hold its whole ClientHello (`readClientHello`, nothing decrypted), the SNI in it picks the
 * cluster (`passthroughCluster`), and the connection is then proxied untouched, the bytes already read
 * going upstream first.
 */
import type { Socket } from 'node:net';
import { CLIENT_HELLO, NEED_MORE, readClientHello, serverNameMatches, type TcpListenerConfig } from '@pillion/core';

export type TlsPassthroughConfig = NonNullable<TcpListenerConfig['tls_passthrough']>;

/** How long a client has, from accept, to send its whole ClientHello before the connection is closed. */
export const CLIENT_HELLO_TIMEOUT_MS = 10_000;

/**
 * The cluster for a client that asked for `serverName` ('' when its ClientHello had no SNI): the first
 * route with a matching `server_names` entry (exact or `*.suffix`), else `default_cluster`, else none.
 */
export function passthroughCluster(p: TlsPassthroughConfig, serverName: string): string | undefined {
  if (serverName !== '') {
    for (const r of p.routes) for (const n of r.server_names) if (serverNameMatches(n, serverName)) return r.cluster;
  }
  return p.default_cluster;
}

/** What the first bytes of a connection turned out to be. */
export type HelloOutcome =
  | { kind: 'hello'; serverName: string; bytes: Buffer }
  | { kind: 'not-tls'; reason: string }
  | { kind: 'timeout' }
  /** The client closed or reset the connection before its ClientHello was complete. */
  | { kind: 'gone'; error: boolean };

/**
 * Reads a connection's first bytes until `readClientHello` decides, or the client goes away, or
 * `timeoutMs` passes. Then the socket is paused again with nothing of it consumed but the bytes handed
 * over, and `done` is called once.
 */
export class ClientHelloRead {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private timer: NodeJS.Timeout | null;
  private settled = false;
  private readonly boundData = this.onData.bind(this);
  private readonly boundEnd = this.onEnd.bind(this);
  private readonly boundError = this.onError.bind(this);

  constructor(
    private readonly socket: Socket,
    timeoutMs: number,
    private readonly done: (outcome: HelloOutcome) => void,
  ) {
    socket.on('data', this.boundData);
    socket.on('end', this.boundEnd);
    socket.on('error', this.boundError);
    socket.on('close', this.boundEnd);
    this.timer = setTimeout(helloTimedOut, timeoutMs, this);
    socket.resume();
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    const bytes = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.size);
    if (this.chunks.length > 1) {
      this.chunks.length = 0;
      this.chunks.push(bytes);
    }
    const r = readClientHello(bytes);
    if (r.kind === NEED_MORE) return;
    if (r.kind === CLIENT_HELLO) this.settle({ kind: 'hello', serverName: r.serverName, bytes });
    else this.settle({ kind: 'not-tls', reason: r.reason });
  }

  private onEnd(): void {
    this.settle({ kind: 'gone', error: false });
  }

  private onError(): void {
    this.settle({ kind: 'gone', error: true });
  }

  /** Called by the timer. */
  timedOut(): void {
    this.timer = null;
    this.settle({ kind: 'timeout' });
  }

  /** Stops reading without an outcome (the listener is closing the connection itself). */
  cancel(): void {
    this.settled = true;
    this.stop();
  }

  private settle(outcome: HelloOutcome): void {
    if (this.settled) return;
    this.settled = true;
    this.stop();
    this.done(outcome);
  }

  private stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const s = this.socket;
    s.pause();
    s.off('data', this.boundData);
    s.off('end', this.boundEnd);
    s.off('error', this.boundError);
    s.off('close', this.boundEnd);
  }
}

function helloTimedOut(r: ClientHelloRead): void {
  r.timedOut();
}
