// New TLS connections per second through the proxy: 50 loops of TLS connect (a full handshake:
// the client never offers a session), GET / with `Connection: close`, read the reply, close.
// Against one-worker Pillion (its TLS listener), nginx and HAProxy serving the same certificate.
import { per10k } from '../lib/load.js';
import { HAVE_PROC, peakRssKiB } from '../lib/proc.js';
import { median } from '../lib/stats.js';
import { handshakeRate } from '../lib/tls-load.js';
import { withCpu } from '../l4-load.js';
import { TLS_SETUP, clientBoundLine, goalLine, negotiatedLine, peerTlsFacts, tlsVariants } from './_tls.js';
import { fmtMs } from '../lib/format.js';

const LOOPS = 50;

/** @type {import('../lib/types.js').Scenario} */
export default {
  name: 'tls-handshakes',
  title: `new TLS connection per request: ${LOOPS} loops of TLS connect (full handshake, no resumption), GET /, close; 1 worker (req/s column = handshakes/s)`,
  order: 46,
  load: { connections: LOOPS, path: '/' },
  tls: true,
  variants: tlsVariants,
  // The same load, unmeasured, so the first round does not find Pillion's JIT cold.
  async warm(url, seconds) {
    if (seconds > 0) await handshakeRate(url, seconds, LOOPS);
  },
  async measure(ctx) {
    const m = await withCpu(ctx.pid, ctx.upstreamPid, () => handshakeRate(ctx.url, ctx.seconds, LOOPS));
    const r = m.result;
    return {
      rps: r.count / r.seconds,
      p50: r.latency.percentile(50),
      p99: r.latency.percentile(99),
      errors: r.errors,
      requests: r.count,
      seconds: r.seconds,
      cpuPer10k: per10k(m.proxyCpu, r.count),
      rssKiB: HAVE_PROC && ctx.pid !== null ? peakRssKiB(ctx.pid) : null,
      upstreamCpuPer10k: per10k(m.upstreamCpu, r.count),
      loadCpu: m.loadCpu,
      extra: { resumed: r.resumed, handshakeP50: r.handshake.percentile(50), handshakeP99: r.handshake.percentile(99) },
    };
  },
  async notes(ctx) {
    const { cert, peers } = await peerTlsFacts(ctx);
    const goal = goalLine(ctx.rows, 'handshakes/s', { goal: false });
    const bound = clientBoundLine(ctx.rows);
    const resumed = ctx.rows.reduce((n, r) => n + r.samples.reduce((m, s) => m + (s.extra?.resumed ?? 0), 0), 0);
    const total = ctx.rows.reduce((n, r) => n + r.samples.reduce((m, s) => m + s.requests, 0), 0);
    const hs = ctx.rows.map((r) => `${r.id} ${fmtMs(median(r.samples.map((s) => s.extra?.handshakeP50 ?? null)))}`);
    return {
      lines: [
        `Each row's p50/p99 is connect to the end of the response; the handshake alone (connect to secure), p50 ms: ${hs.join(', ')}. ` +
          `Sessions resumed: ${resumed} of ${total} connections (the client checks every one).`,
        negotiatedLine(peers, cert),
        TLS_SETUP,
        ...(goal.line ? [goal.line] : []), ...(bound ? [bound] : []),
      ],
      data: { tls: Object.fromEntries(peers.map((p) => [p.id, p.facts])), resumed, connections: total, pillionToNginx: { rps: goal.rps, cpuPer10k: goal.cpu } },
    };
  },
};
