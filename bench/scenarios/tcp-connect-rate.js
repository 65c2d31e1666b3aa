// New TCP connections per second through Pillion's tcp listener: 50 loops of connect,
// GET / (Connection: close), read the reply, close, for the run's duration.
import { HAVE_PROC, peakRssKiB } from '../lib/proc.js';
import { per10k } from '../lib/load.js';
import { connectRate, withCpu } from '../l4-load.js';
import { toTcpListener } from './_tcp-listener.js';

const LOOPS = 50;

/** @type {import('../lib/types.js').Scenario} */
export default {
  name: 'tcp-connect-rate',
  title: `TCP connection rate through a tcp listener: ${LOOPS} loops of connect, one request, close`,
  order: 71,
  load: { connections: LOOPS, path: '/' },
  peers: ['direct', 'pillion'],
  pillionConfig: toTcpListener,
  async measure(ctx) {
    const port = Number(new URL(ctx.url).port);
    const m = await withCpu(ctx.pid, ctx.upstreamPid, () => connectRate(port, ctx.seconds, LOOPS));
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
    };
  },
};
