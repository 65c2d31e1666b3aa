/**
 * Layer 4: TCP and UDP proxying over the same clusters, policies and breakers as HTTP.
 *
 * - listen-shared: one TCP port in every worker (SO_REUSEPORT, native or through node-unix-socket)
 * - l4-host: what a listener needs from its worker (clusters, SharedState, statistics, logs)
 * - tcp-listener + tcp-connection: accept, pick, connect with attempts, pipe both ways, time out, log
 * - tls-terminate: a tcp listener's `tls` (handshake, client certificate check, then plaintext)
 * - tls-passthrough: a tcp listener's `tls_passthrough` (the ClientHello's SNI picks the cluster)
 * - udp-listener + udp-session: sessions per client address on the owning worker, expiry, drops
 */
export { listenShared, nativeReusePort } from './listen-shared.js';
export { NO_HEADERS, CONNECTED, type L4Cluster, type L4Endpoint, type L4Host } from './l4-host.js';
export { TcpListener } from './tcp-listener.js';
export { TcpConnection, type TcpConnectionOptions, type TcpEnd } from './tcp-connection.js';
export { TlsTerminator, type TlsFailure } from './tls-terminate.js';
export { CLIENT_HELLO_TIMEOUT_MS, ClientHelloRead, passthroughCluster } from './tls-passthrough.js';
export { UdpListener, udpOwner, sweepInterval, DRAIN_QUIET_MS } from './udp-listener.js';
export { UdpSession, type UdpEnd } from './udp-session.js';
export { L4Listeners } from './l4-listeners.js';
export { addL4Metrics } from './l4-metrics.js';
