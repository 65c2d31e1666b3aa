// 2. One endpoint that accepts and never answers, one that answers slowly, one that is fine: the
// per-try timeout and retries answer every request, outlier detection ejects the hanging one, and the
// requests and connections held upstream never pile up past the circuit breakers.
import { setTimeout as sleep } from 'node:timers/promises';
import { startLoad, startsWith } from '../lib/load.js';
import { freePorts, httpConfig, startPillion, startUpstream } from '../lib/processes.js';
import { goal, row, secs } from '../lib/row.js';
import { metricSum } from '../lib/wait.js';

const MAX_REQUESTS = 150;
const MAX_CONNECTIONS = 200;

export default {
  name: 'hang-and-slow',
  /** @param {{ quick: boolean }} ctx */
  async run(ctx) {
    const seconds = ctx.quick ? 6 : 20;
    const connections = 200;
    const ok = await startUpstream('ok', 'ok');
    const hang = await startUpstream('hang', 'hang');
    const slow = await startUpstream('slow', 'ok', { delayMs: 250 });
    const [listen, admin] = await freePorts(2);
    const config = httpConfig({
      listen,
      admin,
      upstreams: [ok.port, hang.port, slow.port],
      route: { timeout: '3s', retry: { attempts: 2, per_try_timeout: '500ms', on: ['connect-failure', 'reset', 'gateway-error'], budget_percent: 100 } },
      cluster: {
        lb: { policy: 'least-request' },
        outlier_detection: { consecutive_gateway_failure: 3, base_ejection_time: '60s', max_ejection_percent: 34 },
        circuit_breaker: { max_requests: MAX_REQUESTS, max_connections: MAX_CONNECTIONS, max_pending_requests: 100, max_retries: 100 },
      },
    });
    const pillion = await startPillion(config);
    try {
      const rssBefore = pillion.rssKiB();
      const load = startLoad({ port: listen, connections, timeoutMs: 10_000, next: () => ({ path: '/', expect: startsWith('hello from'), accept: ['status-503'] }) });
      load.faultWindow(true);
      const hangKey = `127.0.0.1:${hang.port}`;
      let maxRequests = 0;
      let maxConnections = 0;
      /** @type {number | null} */
      let ejectedAt = null;
      const t0 = performance.now();
      while (performance.now() - t0 < seconds * 1000) {
        const text = await pillion.metrics();
        // What the upstreams hold, counted by them: the hanging one holds one request per connection.
        const held = (await ok.stats()).inflight + (await slow.stats()).inflight + (await hang.stats()).open - 1;
        maxRequests = Math.max(maxRequests, held);
        maxConnections = Math.max(maxConnections, metricSum(text, 'pillion_upstream_connections_active'));
        if (ejectedAt === null && metricSum(text, 'pillion_endpoint_ejected', { endpoint: hangKey }) === 1) ejectedAt = performance.now() - t0;
        await sleep(100);
      }
      const r = await load.stop();
      const text = await pillion.metrics();
      const rejected = metricSum(text, 'pillion_circuit_breaker_rejections_total');
      const timeouts = metricSum(text, 'pillion_upstream_timeouts_total');
      const hangOpen = (await hang.stats()).open - 1;
      const rssAfter = pillion.rssKiB();
      const answered503 = r.outcomes['status-503'] ?? 0;
      return [
        row({
          scenario: '2. hanging and slow upstreams',
          load: `${connections} connections, GET, ${seconds} s; endpoints: fine, hanging, 250 ms slow`,
          fault: 'one endpoint never answers, one answers in 250 ms',
          sent: r.sent,
          succeeded: r.succeeded,
          failed: r.failed,
          p99FaultMs: r.p99FaultMs,
          recovery: ejectedAt === null ? 'the hanging endpoint was never ejected' : `hanging endpoint ejected after ${secs(ejectedAt)}`,
          rssBeforeKiB: rssBefore,
          rssAfterKiB: rssAfter,
          goals: [
            goal('hang: every request answered (200, or 503 from a breaker), none left hanging', Object.keys(r.failed).length === 0, `failed: ${JSON.stringify(r.failed)}; 503 from breakers: ${answered503}`),
            goal('hang: the hanging endpoint is ejected', ejectedAt !== null, ejectedAt === null ? 'never ejected' : `after ${secs(ejectedAt)}`),
            goal(
              'hang: no pile-up beyond the breakers',
              maxRequests <= MAX_REQUESTS && maxConnections <= MAX_CONNECTIONS,
              `most requests the upstreams held at once ${maxRequests} (read every 100 ms) (max_requests ${MAX_REQUESTS}), most connections ${maxConnections} (max_connections ${MAX_CONNECTIONS}); the hanging upstream holds ${hangOpen} connections at the end`,
            ),
          ],
          notes: [`per-try timeouts: ${timeouts}, breaker rejections: ${rejected}, 503 answered: ${answered503}`],
        }),
      ];
    } finally {
      await pillion.stop();
      for (const u of [ok, hang, slow]) await u.stop();
    }
  },
};
