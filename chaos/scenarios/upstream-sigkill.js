// 1. An upstream SIGKILLed under load (3 endpoints, 200 connections), once with the default config
// and once with retries, outlier detection and health checks: the success ratio, and how long the
// dead endpoint keeps getting traffic (its pillion_endpoint_requests_total or
// pillion_endpoint_connect_failures_total still moving).
import { setTimeout as sleep } from 'node:timers/promises';
import { startLoad, startsWith } from '../lib/load.js';
import { freePorts, httpConfig, startPillion, startUpstream } from '../lib/processes.js';
import { goal, row, secs } from '../lib/row.js';
import { metricSum } from '../lib/wait.js';

const VARIANTS = /** @type {const} */ ([
  { name: 'default config', cluster: {}, route: {} },
  {
    name: 'with retries',
    // The budget and max_retries are opened up: a SIGKILL resets every request in flight to the
    // endpoint at once (about a third of 200), and the defaults (20%, 3) would answer most of them.
    route: { retry: { attempts: 3, per_try_timeout: '2s', on: ['connect-failure', 'reset', 'gateway-error'], backoff: { base: '5ms', max: '50ms' }, budget_percent: 100 } },
    cluster: {
      circuit_breaker: { max_retries: 1000 },
      outlier_detection: { consecutive_gateway_failure: 3, base_ejection_time: '30s', max_ejection_percent: 50 },
      health_check: { tcp: {}, interval: '500ms', timeout: '250ms', unhealthy_threshold: 2, healthy_threshold: 2 },
    },
  },
]);

export default {
  name: 'upstream-sigkill',
  /** @param {{ quick: boolean }} ctx */
  async run(ctx) {
    const seconds = ctx.quick ? 6 : 20;
    const killAt = ctx.quick ? 2 : 5;
    const rows = [];
    for (const v of VARIANTS) {
      const ups = [await startUpstream('a', 'ok'), await startUpstream('b', 'ok'), await startUpstream('c', 'ok')];
      const [listen, admin] = await freePorts(2);
      const pillion = await startPillion(httpConfig({ listen, admin, upstreams: ups.map((u) => u.port), route: v.route, cluster: v.cluster }));
      try {
        const rssBefore = pillion.rssKiB();
        const dead = `127.0.0.1:${ups[0].port}`;
        const load = startLoad({ port: listen, connections: 200, next: () => ({ path: '/', expect: startsWith('hello from') }) });
        /** @param {string} text */
        const deadCount = (text) => metricSum(text, 'pillion_endpoint_requests_total', { endpoint: dead }) + metricSum(text, 'pillion_endpoint_connect_failures_total', { endpoint: dead });
        await sleep(killAt * 1000);
        // The dead endpoint's request counter, read just before the kill and then every 100 ms: the
        // last reading at which it had moved is when it stopped taking traffic (to within a reading).
        let lastCount = deadCount(await pillion.metrics());
        ups[0].kill();
        const killedAt = load.elapsedMs();
        load.faultWindow(true);
        let lastMoved = killedAt;
        const until = performance.now() + (seconds - killAt) * 1000;
        while (performance.now() < until) {
          await sleep(100);
          const n = deadCount(await pillion.metrics());
          if (n !== lastCount) {
            lastMoved = load.elapsedMs();
            lastCount = n;
          }
        }
        const r = await load.stop();
        const rssAfter = pillion.rssKiB();
        const ratio = r.succeeded / r.sent;
        const stillMoving = lastMoved > load.elapsedMs() - 1500;
        const recovery = stillMoving ? `dead endpoint still taking traffic after ${secs(seconds * 1000 - killedAt)}` : `dead endpoint idle after ${secs(lastMoved - killedAt)} (read every 100 ms)`;
        rows.push(
          row({
            scenario: `1. upstream SIGKILL (${v.name})`,
            load: `200 connections, GET, ${seconds} s, 3 endpoints`,
            fault: `SIGKILL one endpoint at ${killAt} s`,
            sent: r.sent,
            succeeded: r.succeeded,
            failed: r.failed,
            p99FaultMs: r.p99FaultMs,
            recovery,
            rssBeforeKiB: rssBefore,
            rssAfterKiB: rssAfter,
            goals:
              v.name === 'with retries'
                ? [goal('upstream SIGKILL with retries: 100% success', r.succeeded === r.sent, `${r.succeeded}/${r.sent} (${(ratio * 100).toFixed(3)}%)`)]
                : [],
            notes: [`success ratio ${(ratio * 100).toFixed(3)}%`],
          }),
        );
      } finally {
        await pillion.stop();
        for (const u of ups) await u.stop();
      }
    }
    return rows;
  },
};
