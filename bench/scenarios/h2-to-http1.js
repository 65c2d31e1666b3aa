// HTTP/2 downstream, HTTP/1.1 upstream: h2load sends GET / over cleartext HTTP/2 with prior knowledge
// (10 connections × 10 concurrent streams) to one-worker Pillion (`codec: h2c`), nginx (`listen http2`)
// and HAProxy (`bind proto h2`); each proxies to the bench's usual HTTP/1.1 upstream with keep-alive,
// so every stream becomes a request on a pooled HTTP/1.1 connection.
import { h2Notes, h2Scenario } from './_h2.js';

/** How each kind serves HTTP/2 and reaches the upstream here, for the notes. */
export const H2_TO_HTTP1_SETUP =
  'Setup: Pillion listener `codec: h2c` (Node\'s http2 server, default `http2` settings), HTTP/1.1 cluster with its default pool; ' +
  'nginx `listen ... http2` (cleartext HTTP/2 only: nginx 1.22 syntax) and `proxy_pass` over HTTP/1.1 to an upstream block with `keepalive 128`; ' +
  'HAProxy `bind ... proto h2`, HTTP/1.1 server, `http-reuse always`. Upstream: bench/upstream.js (uWebSockets.js, HTTP/1.1), shared by the rows as in the other scenarios.';

/** @type {import('../lib/types.js').Scenario} */
export default {
  name: 'h2-to-http1',
  title: 'HTTP/2 to the proxy (h2c, h2load: 10 connections × 10 streams), HTTP/1.1 keep-alive to the upstream, 1 worker',
  order: 47,
  ...h2Scenario('http1', { direct: false }),
  notes: (ctx) => h2Notes(ctx, H2_TO_HTTP1_SETUP),
};
