/**
 * Node's HTTP/1.1 server (`codec: http1-strict`) seen through the Downstream interface: one request
 * and its response. Node frames the response itself (Content-Length when the pipeline declares one,
 * chunked otherwise, close-delimited for HTTP/1.0 clients) and orders pipelined responses.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { PeerIdentity } from '@pillion/core';
import type { Downstream } from './downstream.js';
import { StreamDownstream } from './stream-downstream.js';

export class NodeDownstream extends StreamDownstream implements Downstream {
  private statusCode = 200;
  private reason = '';
  /** Header fields as written, name and value alternating (Node's raw writeHead form). */
  private fields: string[] = [];
  private headWritten = false;
  /** Set by end(_, true): the connection closes after this response. */
  closeAfter = false;
  /** The verified client certificate of the request's TLS connection; null without one. */
  identity: PeerIdentity | null = null;
  /**
   * Body chunks are copied before the socket gets them. A relayed chunk is a view of the upstream
   * connection's read buffer, which the next read (of any upstream connection in the worker)
   * overwrites; a plain socket that cannot write at once queues the caller's memory as it is. A TLS
   * socket encrypts what it is given before write() returns, so its chunks need no copy.
   */
  private readonly copy: boolean;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly remoteAddress: string,
  ) {
    super(req);
    this.copy = (req.socket as Socket & { encrypted?: boolean }).encrypted !== true;
    res.once('close', this.onClose.bind(this));
    res.on('drain', this.drained.bind(this));
  }

  private onClose(): void {
    this.closed(this.ended && this.res.writableFinished);
  }

  cork(cb: () => void): void {
    const res = this.res;
    res.cork();
    try {
      cb();
    } finally {
      res.uncork();
    }
  }

  writeStatus(status: string): void {
    const sp = status.indexOf(' ');
    this.statusCode = Number(sp === -1 ? status : status.slice(0, sp));
    this.reason = sp === -1 ? '' : status.slice(sp + 1);
  }

  writeHeader(name: string, value: string | Buffer): void {
    // A Buffer carries bytes >= 0x80 as received; Node writes header strings as latin1, byte for byte.
    this.fields.push(name, typeof value === 'string' ? value : value.toString('latin1'));
  }

  private writeHead(length: number): void {
    if (this.headWritten) return;
    this.headWritten = true;
    const f = this.fields;
    if (length >= 0) f.push('content-length', String(length));
    if (this.closeAfter) f.push('connection', 'close');
    const res = this.res;
    if (this.reason) res.writeHead(this.statusCode, this.reason, f);
    else res.writeHead(this.statusCode, f);
  }

  write(chunk: Buffer | string): boolean {
    this.writeHead(-1);
    this.offset += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    return this.res.write(this.owned(chunk));
  }

  end(body?: Buffer | string, closeConnection?: boolean): void {
    if (closeConnection) this.closeAfter = true;
    if (!this.headWritten) this.writeHead(body === undefined ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.length);
    this.ended = true;
    this.res.end(body === undefined ? body : this.owned(body));
  }

  endWithoutBody(reportedContentLength?: number, closeConnection?: boolean): void {
    if (closeConnection) this.closeAfter = true;
    // HEAD, 204 and 304: Node sends no body for them; the length (of the body a GET would get) is kept.
    this.writeHead(reportedContentLength ?? -1);
    this.ended = true;
    this.res.end();
  }

  tryEnd(chunk: Buffer | string, totalSize: number): [boolean, boolean] {
    this.writeHead(totalSize);
    const n = typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    this.offset += n;
    if (this.offset >= totalSize) {
      this.ended = true;
      this.res.end(n ? this.owned(chunk) : undefined);
      return [true, true];
    }
    // Node takes every byte (buffering what the socket cannot take yet) and reports backpressure.
    const ok = n === 0 ? true : this.res.write(this.owned(chunk));
    return [ok, false];
  }

  private owned(chunk: Buffer | string): Buffer | string {
    return this.copy && typeof chunk !== 'string' ? Buffer.from(chunk) : chunk;
  }


  /**
   * The request can never complete (its body broke the framing): the exchange sees it as aborted, and
   * the response is no longer written through this object.
   */
  abandon(): void {
    this.ended = true;
    this.closed(false);
  }

  close(): void {
    this.ended = true;
    this.res.destroy();
    this.req.socket.destroy();
  }
}
