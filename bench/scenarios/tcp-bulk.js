// TCP bulk through Pillion's tcp listener (the HTTP listener swapped for a tcp one on the same
// port, forwarding to the same upstream): one connection uploads 1 GiB (one POST), another
// downloads 1 GiB (pipelined GET /64k). The req/s column reads MiB/s, both directions together.
// HAProxy `mode tcp` and UDP are in bench/l4-bench.js (their peers here speak HTTP).
import { HAVE_PROC, peakRssKiB } from '../lib/proc.js';
import { per10k } from '../lib/load.js';
import { tcpDownload, tcpUpload, withCpu } from '../l4-load.js';
import { toTcpListener } from './_tcp-listener.js';

const BYTES = 1024 * 1024 * 1024;
const MIB = BYTES / (1024 * 1024);

/** @type {import('../lib/types.js').Scenario} */
export default {
  name: 'tcp-bulk',
  title: 'TCP bulk through a tcp listener: 1 GiB up, then 1 GiB down (req/s column = MiB/s)',
  order: 70,
  load: { connections: 1, path: '/' },
  peers: ['direct', 'pillion'],
  pillionConfig: toTcpListener,
  async measure(ctx) {
    const port = Number(new URL(ctx.url).port);
    const m = await withCpu(ctx.pid, ctx.upstreamPid, async () => (await tcpUpload(port, BYTES)) + (await tcpDownload(port, BYTES)));
    const moved = 2 * MIB;
    return {
      rps: moved / m.result,
      p50: null,
      p99: null,
      errors: 0,
      requests: moved,
      seconds: m.result,
      cpuPer10k: per10k(m.proxyCpu, moved),
      rssKiB: HAVE_PROC && ctx.pid !== null ? peakRssKiB(ctx.pid) : null,
      upstreamCpuPer10k: per10k(m.upstreamCpu, moved),
      loadCpu: m.loadCpu,
    };
  },
};
