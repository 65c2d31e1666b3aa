// 8. A soak: mixed traffic (GET, POST with bodies, 64 KiB responses, clients that give up mid-request,
// upstream resets) for 10 minutes (60 s with --quick), Pillion's RSS read every 10 s (2.5 s quick).
// Memory must not grow by more than 10% after the warm-up (the first fifth of the run; half of the
// quick one, where V8's heap is still growing into its working size): the median of the last readings
// against the median of the first readings after the warm-up, so one collection more or less does
// not decide it.
import { setTimeout as sleep } from 'node:timers/promises';
import { body64k, patterned } from '../lib/bodies.js';
import { startLoad, startsWith } from '../lib/load.js';
import { freePorts, httpConfig, startPillion, startUpstream } from '../lib/processes.js';
import { goal, row } from '../lib/row.js';
import { formatRss } from '../lib/format.js';

const POST_BODY = patterned(16 * 1024);

/**
 * The mix, by request number: mostly GETs, a POST with a 16 KiB body, a 64 KiB response, a client
 * that gives up after 20 ms on a 200 ms answer, an upstream that resets (502 expected).
 * @param {number} n
 * @returns {import('../lib/load.js').RequestSpec}
 */
function mixed(n) {
  switch (n % 10) {
    case 1:
    case 5:
      return { method: 'POST', path: '/upload', body: POST_BODY, expect: (b) => b.toString() === `{"bytes":${POST_BODY.length}}` };
    case 3:
    case 7:
      return { path: '/64k', expect: (b) => b.equals(body64k) };
    case 8:
      return { path: '/slow?ms=200', abortAfterMs: 20, accept: ['client-abort'] };
    case 9:
      return n % 20 === 9 ? { path: '/reset', accept: ['status-502'] } : { path: '/', expect: startsWith('hello from') };
    default:
      return { path: '/', expect: startsWith('hello from') };
  }
}

/** @param {number[]} xs */
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? ((s[(s.length - 1) >> 1] ?? 0) + (s[s.length >> 1] ?? 0)) / 2 : 0;
}

export default {
  name: 'soak',
  /** @param {{ quick: boolean }} ctx */
  async run(ctx) {
    const seconds = ctx.quick ? 60 : 600;
    const sampleMs = ctx.quick ? 2500 : 10_000;
    const warmupS = ctx.quick ? seconds / 2 : seconds / 5;
    const k = ctx.quick ? 4 : 3;
    const ups = [await startUpstream('a', 'ok'), await startUpstream('b', 'ok')];
    const [listen, admin] = await freePorts(2);
    // Resets are expected here, not retried: the count of 502s shows them.
    const pillion = await startPillion(httpConfig({ listen, admin, upstreams: ups.map((u) => u.port), route: { retry: { attempts: 0 } }, cluster: { outlier_detection: { consecutive_5xx: 0, consecutive_gateway_failure: 0 } } }));
    try {
      const rssStart = pillion.rssKiB();
      const load = startLoad({ port: listen, connections: 50, next: (lane, n) => mixed(lane + n) });
      load.faultWindow(true);
      /** @type {[number, number | null][]} */
      const samples = [];
      const t0 = performance.now();
      while (performance.now() - t0 < seconds * 1000) {
        await sleep(sampleMs);
        samples.push([Math.round((performance.now() - t0) / 1000), pillion.rssKiB()]);
      }
      const r = await load.stop();
      const after = samples.filter(([t]) => t >= warmupS).map(([, kib]) => kib ?? 0);
      const warm = median(after.slice(0, k));
      const end = median(after.slice(-k));
      const peak = Math.max(...after);
      const growth = warm > 0 ? (end - warm) / warm : 0;
      return [
        row({
          scenario: '8. soak',
          load: `50 connections, ${seconds} s: GET, POST 16 KiB, 64 KiB responses, client aborts, upstream resets`,
          fault: 'client aborts (1 in 10), upstream resets (1 in 20)',
          sent: r.sent,
          succeeded: r.succeeded,
          failed: r.failed,
          p99FaultMs: r.p99FaultMs,
          recovery: `RSS after warm-up (${warmupS} s) ${formatRss(warm)}, at the end ${formatRss(end)} (${(growth * 100).toFixed(1)}%; medians of ${k} readings), peak ${formatRss(peak)}`,
          rssBeforeKiB: rssStart,
          rssAfterKiB: pillion.rssKiB(),
          goals: [
            goal('soak: RSS growth under 10% after warm-up', growth < 0.1, `${(growth * 100).toFixed(1)}% (${formatRss(warm)} → ${formatRss(end)})`),
            goal('soak: no request fails but the expected resets and aborts', Object.keys(r.failed).length === 0, JSON.stringify(r.failed)),
          ],
          notes: [`RSS every ${sampleMs / 1000} s (s: MiB): ${samples.map(([t, k]) => `${t}: ${k === null ? '—' : (k / 1024).toFixed(0)}`).join(', ')}`, `outcomes: ${JSON.stringify(r.outcomes)}`],
        }),
      ];
    } finally {
      await pillion.stop();
      for (const u of ups) await u.stop();
    }
  },
};
