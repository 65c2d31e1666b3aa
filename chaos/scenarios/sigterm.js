// 5. SIGTERM under load: every request sent before the signal is answered (the drain finishes what was
// accepted), requests sent after it may be refused; the process exits 0.
import { setTimeout as sleep } from 'node:timers/promises';
import { startLoad, startsWith } from '../lib/load.js';
import { freePorts, httpConfig, startPillion, startUpstream } from '../lib/processes.js';
import { goal, row, secs } from '../lib/row.js';

export default {
  name: 'sigterm',
  /** @param {{ quick: boolean }} ctx */
  async run(ctx) {
    const connections = ctx.quick ? 100 : 200;
    const up = await startUpstream('a', 'ok', { delayMs: 100 });
    const [listen, admin] = await freePorts(2);
    const pillion = await startPillion(httpConfig({ listen, admin, upstreams: [up.port], top: { drain_timeout: '10s' } }));
    try {
      const rssBefore = pillion.rssKiB();
      /** @type {number | null} */
      let signalledAt = null;
      let before = 0;
      let beforeOk = 0;
      /** @type {Record<string, number>} */
      const beforeFailed = {};
      let after = 0;
      /** @type {Record<string, number>} */
      const afterOutcomes = {};
      const load = startLoad({
        port: listen,
        connections,
        next: () => ({ path: '/', expect: startsWith('hello from') }),
        onOutcome: (outcome, started) => {
          if (signalledAt === null || started < signalledAt) {
            before++;
            if (outcome === 'ok') beforeOk++;
            else beforeFailed[outcome] = (beforeFailed[outcome] ?? 0) + 1;
          } else {
            after++;
            afterOutcomes[outcome] = (afterOutcomes[outcome] ?? 0) + 1;
          }
        },
      });
      await sleep(ctx.quick ? 2000 : 5000);
      const rssAfter = pillion.rssKiB();
      signalledAt = load.elapsedMs();
      const t = performance.now();
      pillion.proc.kill('SIGTERM');
      load.faultWindow(true);
      const code = await pillion.exited;
      const drainMs = performance.now() - t;
      const r = await load.stop();
      return [
        row({
          scenario: '5. SIGTERM under load',
          load: `${connections} connections, GET, upstream answers in 100 ms`,
          fault: 'SIGTERM (drain_timeout 10s)',
          sent: before,
          succeeded: beforeOk,
          failed: beforeFailed,
          p99FaultMs: r.p99FaultMs,
          recovery: `drained and exited ${code} in ${secs(drainMs)}`,
          rssBeforeKiB: rssBefore,
          rssAfterKiB: rssAfter,
          goals: [
            goal('SIGTERM: zero failed among requests sent before the signal', beforeOk === before, `${before - beforeOk} failed of ${before}: ${JSON.stringify(beforeFailed)}`),
            goal('SIGTERM: exits 0', code === 0, `exit code ${code}`),
          ],
          notes: [`sent/succeeded/failed count the requests sent before SIGTERM; ${after} more were sent after it: ${JSON.stringify(afterOutcomes)}. RSS "after" is read just before the signal.`],
        }),
      ];
    } finally {
      await pillion.stop();
      await up.stop();
    }
  },
};
