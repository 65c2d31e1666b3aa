// 9. An upstream that misbehaves: responses that are not HTTP, ambiguous framing, heads over the limit,
// bodies cut short or longer than declared, broken chunking, a thousand 1xx before the answer. Each
// must end in a 502 or an aborted downstream, never a corrupted body; good responses interleaved with
// the bad ones must come back whole; and the upstream must never see a request on a connection it
// broke (the pool must not reuse it).
import { setTimeout as sleep } from 'node:timers/promises';
import { patterned } from '../lib/bodies.js';
import { startLoad } from '../lib/load.js';
import { freePorts, httpConfig, startPillion, startUpstream } from '../lib/processes.js';
import { goal, row } from '../lib/row.js';

const OK_BODY = patterned(3000);
const BAD = ['/invalid', '/ambiguous', '/huge-head', '/mid-body', '/overlong', '/bad-chunk'];

export default {
  name: 'upstream-misbehaviour',
  /** @param {{ quick: boolean }} ctx */
  async run(ctx) {
    const seconds = ctx.quick ? 6 : 15;
    const up = await startUpstream('bad', 'misbehave');
    const [listen, admin] = await freePorts(2);
    // No retries: each bad answer must reach the client as the failure it is.
    const pillion = await startPillion(httpConfig({ listen, admin, upstreams: [up.port], route: { retry: { attempts: 0 } }, cluster: { outlier_detection: { consecutive_5xx: 0, consecutive_gateway_failure: 0 } } }));
    try {
      const rssBefore = pillion.rssKiB();
      /** @type {Record<string, Record<string, number>>} */
      const byPath = {};
      const load = startLoad({
        port: listen,
        connections: 20,
        next: (lane, n) => {
          // Every other request is a good one, so a broken connection reused would show on it.
          const path = n % 2 === 0 ? '/ok' : n % 14 === 13 ? '/1xx-flood' : BAD[(lane + n) % BAD.length];
          return {
            path,
            expect: (/** @type {Buffer} */ body) => body.equals(OK_BODY),
            // A bad answer may be a 502 or a connection cut after the head; a 1xx flood may also be relayed whole.
            accept: path === '/ok' ? [] : ['status-502', 'aborted'],
          };
        },
        onOutcome: (outcome, _s, _e, spec) => {
          const p = (byPath[spec.path] ??= {});
          p[outcome] = (p[outcome] ?? 0) + 1;
        },
      });
      load.faultWindow(true);
      await sleep(seconds * 1000);
      const r = await load.stop();
      const stats = await up.stats();
      const corrupt = r.outcomes.corrupt ?? 0;
      const okFailed = Object.entries(byPath['/ok'] ?? {}).filter(([k]) => k !== 'ok');
      return [
        row({
          scenario: '9. upstream misbehaviour',
          load: `20 connections, ${seconds} s, half good requests, half to misbehaving paths`,
          fault: `${BAD.join(', ')}, /1xx-flood`,
          sent: r.sent,
          succeeded: r.succeeded,
          failed: r.failed,
          p99FaultMs: r.p99FaultMs,
          recovery: `${stats.broken} broken upstream connections, ${stats.reusedBroken} reused`,
          rssBeforeKiB: rssBefore,
          rssAfterKiB: pillion.rssKiB(),
          goals: [
            goal('misbehaviour: never a corrupted body', corrupt === 0, `corrupt: ${corrupt}`),
            goal('misbehaviour: good responses whole, bad ones 502 or aborted', Object.keys(r.failed).length === 0, `good requests not answered whole: ${okFailed.map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}; failed: ${JSON.stringify(r.failed)}`),
            goal('misbehaviour: the pool never reuses a broken connection', stats.reusedBroken === 0, `requests on broken connections: ${stats.reusedBroken}`),
          ],
          notes: [`outcomes by path: ${Object.entries(byPath).map(([p, o]) => `${p} ${JSON.stringify(o)}`).join('; ')}`],
        }),
      ];
    } finally {
      await pillion.stop();
      await up.stop();
    }
  },
};
