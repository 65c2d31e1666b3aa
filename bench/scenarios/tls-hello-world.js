// hello-world over HTTPS: autocannon keeps 50 TLS connections open and sends GET / on each, against
// one-worker Pillion (its TLS listener), nginx and HAProxy serving the same certificate.
import { GOAL, TLS_SETUP, clientBoundLine, goalLine, negotiatedLine, peerTlsFacts, tlsVariants } from './_tls.js';

/** @type {import('../lib/types.js').Scenario} */
export default {
  name: 'tls-hello-world',
  title: 'hello world over HTTPS (TLS terminated by the proxy), keep-alive, 50 connections, 1 worker',
  order: 45,
  load: { connections: 50, path: '/' },
  tls: true,
  variants: tlsVariants,
  async notes(ctx) {
    const { cert, peers } = await peerTlsFacts(ctx);
    const goal = goalLine(ctx.rows, 'req/s', { goal: true });
    const bound = clientBoundLine(ctx.rows);
    return {
      lines: [negotiatedLine(peers, cert), TLS_SETUP, ...(goal.line ? [goal.line] : []), ...(bound ? [bound] : [])],
      data: { tls: Object.fromEntries(peers.map((p) => [p.id, p.facts])), pillionToNginx: { rps: goal.rps, cpuPer10k: goal.cpu, rpsGoal: GOAL } },
    };
  },
};
