/**
 * TLS to one upstream endpoint, shared by the endpoint's HTTP pool and the TCP proxy's connections to
 * it: the cluster's secure context as the worker holds it at connect time (so a rotated client
 * certificate or CA applies to the next connection, and the context is never built per connection),
 * the endpoint's latest session for resumption, and the handshake statistics.
 *
 * A session is offered only to a connection made with the context it came from: after a rotation the
 * first connection makes a full handshake with the new material.
 */
import { Socket, type OnReadOpts } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type SecureContext, type TLSSocket } from 'node:tls';
import type { StatsWriter } from '@pillion/core';
import type { ClusterTls } from '../worker/worker-tls.js';

/** The cluster's TLS as the worker holds it now; undefined when no material is loaded for it. */
export type ClusterTlsSource = () => ClusterTls | undefined;

/** What a connection adds to the cluster's TLS options: where to, and the socket's own settings. */
export interface TlsDialOptions {
  host: string;
  port: number;
  onread?: OnReadOpts;
  allowHalfOpen?: boolean;
  /**
   * A TCP socket to the endpoint, just created, to run TLS over (instead of one tls.connect makes): its
   * owner can then reset the TCP connection, which a TLSSocket cannot do itself.
   */
  socket?: Socket;
  /**
   * The application protocols to offer by ALPN instead of the cluster's `tls.alpn` (HTTP/2 pools offer
   * `h2`, and `http/1.1` too for protocol auto); the one chosen is the TLSSocket's `alpnProtocol`.
   */
  alpn?: readonly string[];
}

export class EndpointTls {
  private session: Buffer | undefined = undefined;
  /** The context `session` was made with. */
  private sessionContext: SecureContext | null = null;

  constructor(
    private readonly source: ClusterTlsSource,
    /** The endpoint's address: the SNI and the host name checked when the cluster sets no `sni`. */
    readonly address: string,
    private readonly stats: StatsWriter,
    private readonly clusterSlot: number,
  ) {}

  /** A session to resume is held (the endpoint sent one on an earlier connection). */
  get hasSession(): boolean {
    return this.session !== undefined;
  }

  /**
   * Starts a TLS connection to the endpoint. The socket emits `connect` when TCP is up and
   * `secureConnect` when the handshake is done and the endpoint's certificate passed the cluster's
   * checks; any failure before that is an `error` (see `tlsFailureReason`). Handshakes, resumptions,
   * their time and failures are counted in the cluster's statistics.
   */
  connect(dial: TlsDialOptions): Socket {
    const tls = this.source();
    if (tls === undefined) {
      // Cannot happen with a snapshot from the supervisor (it refuses a config whose TLS files fail);
      // fail like a connect rather than fall back to plaintext.
      dial.socket?.destroy();
      const socket = new Socket(dial.onread ? ({ onread: dial.onread } as ConstructorParameters<typeof Socket>[0]) : undefined);
      socket.destroy(new Error('no TLS material is loaded for the cluster'));
      return socket;
    }
    const options: ConnectionOptions & { onread?: OnReadOpts } = tls.connectOptions(this.address);
    const context = options.secureContext!;
    if (this.session !== undefined && this.sessionContext === context) options.session = this.session;
    options.host = dial.host;
    options.port = dial.port;
    if (dial.socket) options.socket = dial.socket;
    if (dial.alpn) options.ALPNProtocols = [...dial.alpn];
    if (dial.onread) options.onread = dial.onread;
    if (dial.allowHalfOpen) (options as { allowHalfOpen?: boolean }).allowHalfOpen = true;
    const started = performance.now();
    const socket: TLSSocket = tlsConnect(options);
    if (!dial.socket) socket.setNoDelay(true);
    let tcpUp = false;
    let secure = false;
    let failed = false;
    const fail = () => {
      if (failed) return;
      failed = true;
      this.stats.cluster(this.clusterSlot, 'upstream_tls_failures', 1);
    };
    (dial.socket ?? socket).once('connect', () => (tcpUp = true));
    socket.once('secureConnect', () => {
      secure = true;
      const s = this.stats;
      s.cluster(this.clusterSlot, 'upstream_tls_handshakes', 1);
      if (socket.isSessionReused()) s.cluster(this.clusterSlot, 'upstream_tls_resumed', 1);
      s.cluster(this.clusterSlot, 'upstream_tls_handshake_ms', performance.now() - started);
    });
    // TLS 1.3 sends tickets after the handshake; keep the latest for the next connection.
    socket.on('session', (session: Buffer) => {
      this.session = session;
      this.sessionContext = context;
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (secure ? refusedAfterHandshake(socket, err) : tcpUp) fail();
    });
    socket.once('close', () => {
      // TCP was up but the handshake never finished: a timeout, or the endpoint closed mid-handshake.
      if (tcpUp && !secure) fail();
    });
    return socket;
  }
}

/**
 * Whether an error on a connection whose handshake completed on this side is the endpoint refusing
 * it: a TLS alert before any application byte arrived. With TLS 1.3 the client finishes its handshake
 * before the server has checked the client's certificate, so a server that wants a certificate this
 * side did not send (or does not accept it) answers with an alert after `secureConnect`.
 */
export function refusedAfterHandshake(socket: Pick<Socket, 'bytesRead'>, err: { code?: string | undefined }): boolean {
  return socket.bytesRead === 0 && isTlsAlert(err);
}

/** An error OpenSSL raised for the TLS layer (an alert from the peer, a protocol error). */
export function isTlsAlert(err: { code?: string | undefined }): boolean {
  return typeof err.code === 'string' && err.code.startsWith('ERR_SSL_');
}

/**
 * The reason a TLS connection to an endpoint failed, as a connect failure names it:
 * `tls: self-signed certificate in chain`, `tls: upstream certificate SANs (...) match none of
 * allowed_sans`, `tls: tlsv13 alert certificate required`. OpenSSL's messages
 * (`80...:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../deps/...`)
 * are cut down to their reason.
 */
export function tlsFailureReason(err: { message: string }): string {
  return `tls: ${opensslReason(err.message)}`;
}

function opensslReason(message: string): string {
  // <hex>:error:<code>:<library>:<function>:<reason>:<file>:<line>:<data>
  const m = /^[0-9A-Fa-f]+:error:[0-9A-Fa-f]+:[^:]*:[^:]*:([^:]+):/.exec(message.trim());
  return m ? m[1]!.trim() : message.trim();
}
