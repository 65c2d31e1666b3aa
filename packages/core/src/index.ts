/**
 * @pillion/core: the proxy's pure logic, with no sockets and no threads. Each room below has an index
 * whose first lines say what it is for.
 *
 * - config: the schema of the operator's configuration, its defaults and its validation
 * - routes: the compiled route table of an HTTP listener
 * - http: HTTP/1.1 rules a proxy must enforce, header lists, the upstream response parser
 * - lb: load-balancing policies (one file each), the host set they share, zone awareness
 * - resilience: health thresholds, outlier detection, breakers, backoff, retries, slow start
 * - shared-state: the layout of the memory every thread shares, and the slot allocator
 * - tls: peer identities from certificates, x-forwarded-client-cert, the ClientHello's server name
 * - tracing: trace context propagation (W3C, B3), ids, head sampling, the OTLP JSON encoding
 * - discovery: what DNS answers mean for a cluster's endpoints, and when to ask again
 */
export * from './config/index.js';
export * from './routes/index.js';
export * from './shared-state/index.js';
export * from './http/index.js';
export * from './resilience/index.js';
export * from './lb/index.js';
export * from './tls/index.js';
export * from './tracing/index.js';
export * from './discovery/index.js';
