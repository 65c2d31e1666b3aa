// 4. The config file rewritten and reloaded (SIGHUP) every second under load, valid and invalid files
// in turn: no request fails, every invalid file is refused and every valid one applied.
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLoad, startsWith } from '../lib/load.js';
import { freePorts, httpConfig, startPillion, startUpstream } from '../lib/processes.js';
import { goal, row } from '../lib/row.js';
import { metricSum, waitUntil } from '../lib/wait.js';

export default {
  name: 'reload',
  /** @param {{ quick: boolean }} ctx */
  async run(ctx) {
    const reloads = ctx.quick ? 6 : 20;
    const ups = [await startUpstream('a', 'ok'), await startUpstream('b', 'ok')];
    const [listen, admin] = await freePorts(2);
    const base = httpConfig({ listen, admin, upstreams: ups.map((u) => u.port) });
    const pillion = await startPillion(base, { args: ['--no-watch'] });
    try {
      const rssBefore = pillion.rssKiB();
      const load = startLoad({ port: listen, connections: 100, next: () => ({ path: '/', expect: startsWith('hello from') }) });
      load.faultWindow(true);
      let valid = 0;
      let invalid = 0;
      for (let i = 0; i < reloads; i++) {
        await sleep(1000);
        const config = structuredClone(base);
        const cluster = /** @type {Record<string, any>} */ (config.clusters[0]);
        if (i % 2 === 0) {
          // Valid: the weights, the policy and the route timeout change every time.
          cluster.endpoints[0].weight = 1 + (i % 7);
          cluster.lb = { policy: i % 4 === 0 ? 'least-request' : 'round-robin' };
          /** @type {Record<string, any>} */ (config.listeners[0]).routes[0].timeout = `${10 + i}s`;
          valid++;
        } else {
          // Invalid: an unknown policy and a port out of range.
          cluster.lb = { policy: 'fastest' };
          cluster.endpoints[1].port = 70000;
          invalid++;
        }
        writeFileSync(pillion.file, JSON.stringify(config, null, 2));
        pillion.proc.kill('SIGHUP');
      }
      await waitUntil(
        async () => {
          const text = await pillion.metrics();
          return metricSum(text, 'pillion_config_reloads_total') >= reloads;
        },
        { timeoutMs: 5000, what: 'every reload to be counted' },
      );
      const r = await load.stop();
      const text = await pillion.metrics();
      const ok = metricSum(text, 'pillion_config_reloads_total', { result: 'success' });
      const refused = metricSum(text, 'pillion_config_reloads_total', { result: 'failure' });
      const logged = pillion.lines.filter((l) => l.includes('clusters[0].lb.policy')).length;
      return [
        row({
          scenario: '4. config reload',
          load: `100 connections, GET, ${reloads} s`,
          fault: `${reloads} reloads (SIGHUP), one a second, ${valid} valid and ${invalid} invalid files in turn`,
          sent: r.sent,
          succeeded: r.succeeded,
          failed: r.failed,
          p99FaultMs: r.p99FaultMs,
          recovery: `${ok} applied, ${refused} refused`,
          rssBeforeKiB: rssBefore,
          rssAfterKiB: pillion.rssKiB(),
          goals: [
            goal('reload: zero failed requests', r.succeeded === r.sent, `${r.sent - r.succeeded} failed of ${r.sent}`),
            goal('reload: invalid files refused, valid ones applied', ok === valid && refused === invalid && logged >= invalid, `applied ${ok}/${valid}, refused ${refused}/${invalid}, refusals naming the field in the log: ${logged}`),
          ],
        }),
      ];
    } finally {
      await pillion.stop();
      for (const u of ups) await u.stop();
    }
  },
};
