// HTTP/2 on both sides: h2load sends GET / over cleartext HTTP/2 with prior knowledge (10 connections ×
// 10 concurrent streams) to one-worker Pillion (`codec: h2c`, cluster `protocol: h2c`), nginx
// (`listen http2`, `grpc_pass`) and HAProxy (`bind proto h2`, `server proto h2`), each in front of an
// HTTP/2 upstream of its own (lib/h2-upstream.js: nginx answering 13 bytes); `direct` is h2load
// straight to such an upstream, the limit.
//
// nginx is in: it has no HTTP/2 proxy_pass, but grpc_pass forwards any HTTP/2 request, and a plain GET
// and its answer went through it unchanged (status, headers, body; 0 errors under this load). It holds
// one request per upstream connection at a time, so it opens up to one connection per stream in flight
// and reuses them (`keepalive`), where Pillion and HAProxy multiplex; the notes count them.
import { h2Notes, h2Scenario, upstreamLine } from './_h2.js';

/** How each kind serves HTTP/2 and reaches the HTTP/2 upstream here, for the notes. */
export const H2_TO_H2_SETUP =
  'Setup: Pillion listener `codec: h2c`, cluster `protocol: h2c` with the default `http2` settings (max_concurrent_streams 100, sessions_per_endpoint 1); ' +
  'nginx `listen ... http2` and `grpc_pass grpc://up` to an upstream block with `keepalive 128` (its only way to speak HTTP/2 upstream: one request per connection at a time, connections reused, not multiplexed); ' +
  'HAProxy `bind ... proto h2`, `server ... proto h2`, `http-reuse always` (streams multiplexed on shared connections). ' +
  'Upstream: one per row, nginx with one worker, `listen ... http2`, `return 200 "Hello, World!"` (the 13 bytes of bench/upstream.js), `keepalive_requests 1000000`; ' +
  'nginx rather than a node:http2 server so that the upstream does not set the pace (h2load alone drove it to about 85k req/s here, a minimal node:http2 server to about 57k); ' +
  'it shares the 2 cores with h2load and the proxy, and its CPU is not in the proxy\'s.';

/** @type {import('../lib/types.js').Scenario} */
export default {
  name: 'h2-to-h2',
  title: 'HTTP/2 to the proxy (h2c, h2load: 10 connections × 10 streams) and HTTP/2 (h2c) to the upstream, 1 worker',
  order: 48,
  ...h2Scenario('h2c', { direct: true }),
  async notes(ctx) {
    if (!ctx.rows.length) return { lines: [] };
    const up = upstreamLine(ctx);
    const notes = await h2Notes(ctx, H2_TO_H2_SETUP, [up.line]);
    return { lines: notes.lines, data: { ...notes.data, upstreamConnections: up.data } };
  },
};
