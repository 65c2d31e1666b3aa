// 6. Many keep-alive connections (10,000, each sending a request every 5 s: uWS closes connections
// idle for 10 s) plus 1,000 slow clients (500 half-sent heads, 500 readers that never read a 1 MiB
// response): a few ordinary clients keep their latency, and memory stays bounded.
import { setTimeout as sleep } from 'node:timers/promises';
import { keepAliveCrowd, slowHeadCrowd, slowReaderCrowd } from '../lib/crowd.js';
import { formatRss } from '../lib/format.js';
import { startLoad, startsWith } from '../lib/load.js';
import { freePorts, httpConfig, startPillion, startUpstream } from '../lib/processes.js';
import { goal, row } from '../lib/row.js';

export default {
  name: 'many-connections',
  /** @param {{ quick: boolean }} ctx */
  async run(ctx) {
    const idle = ctx.quick ? 2000 : 10_000;
    const slow = ctx.quick ? 200 : 1000;
    const holdS = ctx.quick ? 10 : 40;
    const up = await startUpstream('a', 'ok');
    const [listen, admin] = await freePorts(2);
    const pillion = await startPillion(httpConfig({ listen, admin, upstreams: [up.port] }));
    try {
      const probe = () => startLoad({ port: listen, connections: 10, next: () => ({ path: '/', expect: startsWith('hello from') }) });
      // The ordinary clients alone first: their latency without the crowd.
      const base = probe();
      await sleep(ctx.quick ? 3000 : 5000);
      const alone = await base.stop();
      const rssBefore = pillion.rssKiB();

      const t0 = performance.now();
      const crowd = await keepAliveCrowd(listen, idle, 5000);
      const heads = await slowHeadCrowd(listen, slow / 2, 2000);
      const readers = await slowReaderCrowd(listen, slow / 2, '/1m');
      const openedMs = performance.now() - t0;
      const during = probe();
      during.faultWindow(true);
      let peak = 0;
      const until = performance.now() + holdS * 1000;
      while (performance.now() < until) {
        await sleep(1000);
        peak = Math.max(peak, pillion.rssKiB() ?? 0);
      }
      const r = await during.stop();
      const openAtEnd = { idle: crowd.open(), heads: heads.open(), readers: readers.open() };
      const rssDuring = pillion.rssKiB();
      crowd.close();
      heads.close();
      readers.close();
      await sleep(3000);
      const rssAfter = pillion.rssKiB();
      const p99Alone = alone.p99Ms ?? 0;
      const p99During = r.p99FaultMs ?? 0;
      const c = crowd.counts;
      return [
        row({
          scenario: '6. many connections, slow clients',
          load: `${idle.toLocaleString('en-US')} keep-alive connections (a request every 5 s) + 10 ordinary clients, ${holdS} s`,
          fault: `${slow / 2} half-sent heads (a line every 2 s) + ${slow / 2} clients not reading a 1 MiB response`,
          sent: r.sent,
          succeeded: r.succeeded,
          failed: r.failed,
          p99FaultMs: r.p99FaultMs,
          recovery: `ordinary clients' p99 ${p99Alone.toFixed(1)} ms alone, ${p99During.toFixed(1)} ms in the crowd; RSS peak ${formatRss(peak)}`,
          rssBeforeKiB: rssBefore,
          rssAfterKiB: rssAfter,
          goals: [
            goal('many connections: the ordinary clients are all served', Object.keys(r.failed).length === 0, JSON.stringify(r.failed)),
            goal('many connections: every keep-alive client answered and kept open', c.connectFailed === 0 && c.closedByServer === 0 && c.responses + c.inFlightAtClose === c.sent, `sent ${c.sent}, answered ${c.responses}, in flight when the crowd left ${c.inFlightAtClose}, closed by the server ${c.closedByServer}, connects failed ${c.connectFailed}`),
            goal(
              'many connections: the ordinary clients keep their latency (p99 at most 3x alone + 10 ms)',
              p99During <= 3 * p99Alone + 10,
              `p99 ${p99Alone.toFixed(1)} ms alone, ${p99During.toFixed(1)} ms in the crowd`,
            ),
            goal('many connections: memory bounded (peak under 1 GiB)', peak < 1024 * 1024, `peak ${formatRss(peak)}, ${formatRss(rssDuring)} at the end of the crowd, ${formatRss(rssAfter)} 3 s after it left`),
          ],
          notes: [
            `keep-alive connections the server closed (ms since open, last request, last response): ${crowd.closes.slice(0, 5).map((x) => `${x.openMs}/${x.sinceRequestMs}/${x.sinceResponseMs}`).join(', ') || 'none'}`,
            `opening the crowd took ${(openedMs / 1000).toFixed(1)} s; open at the end: ${JSON.stringify(openAtEnd)}; half-sent heads closed by the server (and reopened): ${heads.counts.closedByServer}`,
            `the load generator (with ${idle.toLocaleString('en-US')} sockets' timers) and Pillion share the machine's cores, so the latency bound is loose`,
          ],
        }),
      ];
    } finally {
      await pillion.stop();
      await up.stop();
    }
  },
};
