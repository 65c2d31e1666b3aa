// One scenario: start every peer, read its idle memory, warm each, run them interleaved for
// the rounds asked (reading memory under load), stop them, and summarise. Peers start fresh
// per scenario so one scenario's pools and peak memory do not leak into the next.
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { freePort } from './net.js';
import { measureLoad, warm } from './load.js';
import { measureWithWrk, runWrk, wrkCanDrive } from './wrk-load.js';
import { HAVE_PROC, idleRssKiB, sampleRss } from './proc.js';
import { interleave } from './schedule.js';
import { baselineFor, ratios, summarize } from './stats.js';
import { formatIdleLine, formatSampleLine } from './report-text.js';

/**
 * @typedef {object} Commit a git commit Pillion was built from (`--baseline`)
 * @property {string} ref    as given on the command line
 * @property {string} sha    full
 * @property {string} short
 *
 * @typedef {import('./types.js').PeerVariant & { version: string, facts: Record<string, unknown>,
 *           twinOf?: string, commit?: Commit }} ReadyVariant
 *   twinOf and commit: this is the peer `twinOf` run from a build of `commit`
 *
 * @typedef {object} IdleRss
 * @property {number | null} rssKiB  VmRSS summed over the proxy's processes, before any load
 * @property {boolean} settled       false: still moving when the wait ran out
 * @property {number} afterMs        how long after start-up it was read
 *
 * @typedef {object} ScenarioRow
 * @property {string} id
 * @property {string} kind
 * @property {number} workers
 * @property {string} [twinOf]       the row this one is a build from another commit of
 * @property {Commit} [commit]
 * @property {IdleRss | null} [idle] null: no process of its own to read
 * @property {import('./types.js').Sample[]} samples
 * @property {import('./stats.js').Summary} summary
 * @property {string | null} baseline
 * @property {import('./stats.js').Summary} ratio
 *
 * @typedef {object} ScenarioResult
 * @property {string} name
 * @property {string} title
 * @property {import('./types.js').LoadSpec} load
 * @property {'autocannon' | 'wrk'} [loadGenerator]  what made the load (absent: the scenario's own, named in its notes)
 * @property {boolean} [tls]                    the peers served HTTPS (the load spoke TLS)
 * @property {string} date
 * @property {{ duration: number, warmup: number, repeats: number, load?: 'autocannon' | 'wrk' }} settings
 * @property {{ id: string, reason: string }[]} skipped
 * @property {ScenarioRow[]} rows
 * @property {string[]} [notes]                 lines shown under the table (scenario's `notes`)
 * @property {Record<string, unknown>} [data]   figures behind the notes
 */

/**
 * The end of a long error message, where the cause usually is.
 * @param {string} text
 * @param {number} n
 */
export function lastLines(text, n) {
  const lines = text.trim().split('\n');
  return lines.length <= n ? lines.join('\n    ') : `${lines[0]}\n    ...\n    ${lines.slice(-n + 1).join('\n    ')}`;
}

/**
 * Adds each row's baseline and ratios.
 * @param {Omit<ScenarioRow, 'baseline' | 'ratio'>[]} rows
 * @param {import('./types.js').Scenario['baseline']} [pick] the scenario's own choice of baseline
 * @returns {ScenarioRow[]}
 */
export function compareRows(rows, pick = baselineFor) {
  return rows.map((row) => {
    const baseline = pick(row, rows);
    const base = rows.find((r) => r.id === baseline)?.summary ?? null;
    return { ...row, baseline, ratio: ratios(row.summary, base) };
  });
}

/**
 * @param {import('./types.js').Scenario} scenario
 * @param {ReadonlyArray<ReadyVariant>} variants
 * @param {{ root: string, tmp: string, upstream: { host: string, port: number, pid: number },
 *           settings: { duration: number, warmup: number, repeats: number, load?: 'autocannon' | 'wrk' }, log: (line: string) => void }} o
 * @returns {Promise<ScenarioResult>}
 */
export async function runScenario(scenario, variants, o) {
  const wanted = scenario.variants
    ? scenario.variants(variants)
    : variants.filter((v) => !scenario.peers || scenario.peers.includes(v.kind.family ?? v.kind.name));
  /** @type {{ id: string, reason: string }[]} */
  const skipped = [];
  /** @type {(import('./types.js').RunningPeer | null)[]} */
  const started = await Promise.all(
    wanted.map(async (v) => {
      try {
        return await v.kind.start({
          root: o.root,
          dir: mkdtempSync(path.join(o.tmp, `${scenario.name}-${v.id}-`)),
          port: await freePort(),
          upstream: { host: o.upstream.host, port: o.upstream.port },
          workers: v.workers,
          scenario,
          facts: v.facts,
        });
      } catch (err) {
        skipped.push({ id: v.id, reason: err instanceof Error ? err.message : String(err) });
        return null;
      }
    }),
  );
  const peers = wanted.flatMap((v, i) => {
    const peer = started[i];
    return peer ? [{ v, peer, samples: /** @type {import('./types.js').Sample[]} */ ([]) }] : [];
  });
  for (const s of skipped) o.log(`  ${s.id}: did not start, left out: ${lastLines(s.reason, 6)}`);

  /** @type {import('./types.js').ScenarioNotes | null} */
  let notes = null;
  /** @type {(IdleRss | null)[]} */
  let idle = [];
  try {
    // Before any load: a peer that starts fresh processes per measurement has none to read.
    idle = await Promise.all(
      peers.map((p) => (HAVE_PROC && p.peer.pid !== null && !p.peer.measure ? idleRssKiB(p.peer.pid) : null)),
    );
    const idleLine = formatIdleLine(peers.map((p, i) => ({ id: p.v.id, idle: idle[i] })));
    if (idleLine) o.log(idleLine);
    // `--load wrk` drives the scenarios autocannon would (HTTP/1.1, no pipelining); the others keep their own load.
    const byWrk = o.settings.load === 'wrk' && !scenario.measure && !scenario.warm && wrkCanDrive(scenario.load);
    for (const p of peers) {
      if (p.peer.measure) continue;
      if (scenario.warm) await scenario.warm(p.peer.url, o.settings.warmup);
      else if (byWrk) {
        if (o.settings.warmup > 0) await runWrk(scenario.load, p.peer.url, o.settings.warmup);
      } else await warm(p.peer.url, scenario, o.settings.warmup);
    }
    const width = Math.max(12, ...peers.map((p) => p.v.id.length));
    for (const p of interleave(peers, o.settings.repeats)) {
      const measure = p.peer.measure ?? scenario.measure ?? (byWrk ? measureWithWrk : measureLoad);
      const memory = HAVE_PROC && p.peer.pid !== null ? sampleRss(p.peer.pid) : null;
      /** @type {import('./types.js').Sample} */
      let sample;
      /** @type {ReturnType<ReturnType<typeof sampleRss>['stop']> | null} */
      let rss = null;
      try {
        sample = await measure(
          { url: p.peer.url, seconds: o.settings.duration, pid: p.peer.pid, upstreamPid: o.upstream.pid },
          scenario,
        );
      } finally {
        rss = memory?.stop() ?? null;
      }
      // A scenario's own measure may read memory itself; otherwise the readings above count.
      if (sample.loadRssKiB === undefined) {
        sample = { ...sample, loadRssKiB: rss?.meanKiB ?? null, loadRssPeakKiB: rss?.peakKiB ?? null, loadRssReadings: rss?.readings ?? 0 };
      }
      p.samples.push(sample);
      o.log(formatSampleLine(p.v.id, sample, width));
    }
    if (scenario.notes) {
      const rows = peers.map((p) => ({ id: p.v.id, url: p.peer.url, pid: p.peer.pid, samples: p.samples }));
      notes = await scenario.notes({ rows, settings: { ...o.settings }, log: o.log });
    }
  } finally {
    await Promise.all(peers.map((p) => p.peer.stop()));
  }

  const { measure: _m, pillionConfig: _c, ...plain } = scenario;
  /** @type {ScenarioResult} */
  const result = {
    name: plain.name,
    title: plain.title,
    load: plain.load,
    ...(scenario.measure || scenario.warm ? {} : { loadGenerator: byWrkResult(o.settings, scenario) }),
    ...(plain.tls ? { tls: true } : {}),
    date: new Date().toISOString(),
    settings: { ...o.settings },
    skipped,
    rows: compareRows(
      peers.map((p, i) => ({
        id: p.v.id,
        kind: p.v.kind.name,
        workers: p.v.workers,
        ...(p.v.twinOf ? { twinOf: p.v.twinOf } : {}),
        ...(p.v.commit ? { commit: p.v.commit } : {}),
        idle: idle[i] ?? null,
        samples: p.samples,
        summary: summarize(p.samples, idle[i]?.rssKiB ?? null),
      })),
      scenario.baseline,
    ),
  };
  if (notes?.lines.length) result.notes = notes.lines;
  if (notes?.data) result.data = notes.data;
  return result;
}

/**
 * Which program made a scenario's load when the bench's own generators do (scenarios with their own
 * `measure` name theirs in their notes).
 * @param {{ load?: string }} settings
 * @param {import('./types.js').Scenario} scenario
 */
function byWrkResult(settings, scenario) {
  return settings.load === 'wrk' && wrkCanDrive(scenario.load) ? 'wrk' : 'autocannon';
}
