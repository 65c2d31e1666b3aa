// 7. File-descriptor exhaustion: Pillion under a low open-file limit (prlimit --nofile), its listener
// (uws, http1-strict or tcp) flooded with idle connections until no descriptor is left, new ones
// arriving all the while. Measured: Pillion's CPU while exhausted, whether a request gets through,
// whether the process and its threads live, the accept errors it counts and logs, the start-up warning,
// and how soon service resumes once the connections go.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BIN, ROOT, freePorts, startPillion, startUpstream } from '../lib/processes.js';
import { goal, row, secs } from '../lib/row.js';
import { metricSum } from '../lib/wait.js';

const NOFILE = 256;

/** @param {number} pid */
function cpuTicks(pid) {
  const t = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const r = t.slice(t.lastIndexOf(')') + 2).split(' ');
  return Number(r[11]) + Number(r[12]);
}

/** @param {number} port @returns {Promise<number | string>} */
const probe = (port) =>
  fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) }).then(
    async (r) => {
      await r.arrayBuffer();
      return r.status;
    },
    (e) => e.cause?.code ?? e.name,
  );

export default {
  name: 'fd-exhaustion',
  /** @param {{ quick: boolean }} ctx */
  async run(ctx) {
    const holdS = ctx.quick ? 3 : 10;
    const rows = [];
    for (const kind of /** @type {const} */ (['uws', 'http1-strict', 'tcp'])) {
      const up = await startUpstream('a', 'ok');
      const [listen, admin] = await freePorts(2);
      const listener =
        kind === 'tcp'
          ? { name: 'web', protocol: 'tcp', address: '127.0.0.1', port: listen, cluster: 'c' }
          : { name: 'web', protocol: 'http', address: '127.0.0.1', port: listen, routes: [{ match: { prefix: '/' }, cluster: 'c' }], codec: kind };
      const config = { workers: 2, admin: { port: admin }, access_log: { enabled: false }, listeners: [listener], clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: up.port }] }] };
      const pillion = await startPillion(config, { nofile: NOFILE });
      /** @type {net.Socket[]} */
      const sockets = [];
      let churn = true;
      try {
        const rssBefore = pillion.rssKiB();
        const warned = pillion.lines.some((l) => l.includes('open-file limit'));
        // Fill every descriptor, then keep knocking: 50 new connections every 250 ms.
        const open = (/** @type {number} */ n) => {
          for (let i = 0; i < n; i++) {
            const s = net.connect(listen, '127.0.0.1');
            s.on('error', () => {});
            sockets.push(s);
          }
        };
        open(NOFILE + 100);
        const knock = (async () => {
          while (churn) {
            await sleep(250);
            if (churn) open(50);
          }
        })();
        await sleep(1000);
        const t0 = cpuTicks(pillion.pid);
        const w0 = performance.now();
        await sleep(holdS * 1000);
        const cpu = (cpuTicks(pillion.pid) - t0) / 100 / ((performance.now() - w0) / 1000);
        const during = await probe(listen);
        churn = false;
        await knock;
        const alive = pillion.proc.exitCode === null;
        for (const s of sockets) s.destroy();
        const freed = performance.now();
        /** @type {number | string} */
        let after = 'none';
        while (performance.now() - freed < 10_000) {
          after = await probe(listen);
          if (after === 200) break;
          await sleep(100);
        }
        const resumedMs = after === 200 ? performance.now() - freed : null;
        const text = alive ? await pillion.metrics() : '';
        const acceptErrors = metricSum(text, 'pillion_accept_errors_total');
        const acceptLines = pillion.lines.filter((l) => l.includes('cannot accept connections')).length;
        const died = pillion.lines.filter((l) => l.includes('worker thread died')).length;
        rows.push(
          row({
            scenario: `7. fd exhaustion (${kind})`,
            load: `${NOFILE + 100} idle connections, then 200 more a second, ${holdS} s`,
            fault: `prlimit --nofile=${NOFILE}`,
            sent: 2,
            succeeded: (during === 200 ? 1 : 0) + (after === 200 ? 1 : 0),
            failed: during === 200 ? {} : { [`while exhausted: ${during}`]: 1 },
            recovery: `${resumedMs === null ? 'no service 10 s after the connections closed' : `served again ${secs(resumedMs)} after the connections closed`}; CPU while exhausted ${(cpu * 100).toFixed(0)}% of a core`,
            rssBeforeKiB: rssBefore,
            rssAfterKiB: pillion.rssKiB(),
            goals: [
              goal(`fd exhaustion (${kind}): the process and its threads live`, alive && died === 0, `alive: ${alive}, worker threads died: ${died}`),
              goal(`fd exhaustion (${kind}): service resumes when descriptors free up`, resumedMs !== null, resumedMs === null ? 'not within 10 s' : secs(resumedMs)),
              goal(`fd exhaustion (${kind}): start-up warns that the limit is too low`, warned, warned ? 'warned' : 'no warning in the log'),
            ],
            notes: [
              kind === 'uws'
                ? `uWS's accept-error path is empty: out of descriptors it spins (${(cpu * 100).toFixed(0)}% of a core here) and JavaScript never hears of it; accept errors cannot be counted and HTTP listeners have no max_connections (this uWS build has no per-connection open/close hook)`
                : `accept errors counted: ${acceptErrors}, logged in ${acceptLines} lines (at most one per listener, worker and 10 s); libuv closes connections it cannot keep itself while its reserve descriptor lasts, so most never reach JavaScript; CPU while exhausted ${(cpu * 100).toFixed(0)}% of a core (it varies from run to run)`,
            ],
          }),
        );
      } finally {
        churn = false;
        for (const s of sockets) s.destroy();
        await pillion.stop('SIGTERM', 5000);
        await up.stop();
      }
    }
    // `pillion validate` gives the same warning, and still exits 0.
    let validate;
    try {
      const r = spawnSync('prlimit', [`--nofile=${NOFILE}:${NOFILE}`, process.execPath, BIN, 'validate', path.join(ROOT, 'examples/demo.yaml')], { encoding: 'utf8' });
      validate = { code: r.status, warned: r.stderr.includes('open-file limit') };
    } catch {
      validate = { code: null, warned: false };
    }
    rows[0]?.goals.push(goal('fd exhaustion: `pillion validate` warns (and exits 0)', validate.code === 0 && validate.warned, `exit ${validate.code}, warned: ${validate.warned}`));
    return rows;
  },
};
