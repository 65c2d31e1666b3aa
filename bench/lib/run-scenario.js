// One scenario: start every peer, warm each, run them interleaved for the rounds asked,
// stop them, and summarise. Peers start fresh per scenario so one scenario's pools and
// peak memory do not leak into the next.
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { freePort } from './net.js';
import { measureLoad, warm } from './load.js';
import { interleave } from './schedule.js';
import { baselineFor, ratios, summarize } from './stats.js';
import { formatSampleLine } from './report-text.js';

/**
 * @typedef {import('./types.js').PeerVariant & { version: string, facts: Record<string, unknown> }} ReadyVariant
 *
 * @typedef {object} ScenarioRow
 * @property {string} id
 * @property {string} kind
 * @property {number} workers
 * @property {import('./types.js').Sample[]} samples
 * @property {import('./stats.js').Summary} summary
 * @property {string | null} baseline
 * @property {import('./stats.js').Summary} ratio
 *
 * @typedef {object} ScenarioResult
 * @property {string} name
 * @property {string} title
 * @property {import('./types.js').LoadSpec} load
 * @property {string} date
 * @property {{ duration: number, warmup: number, repeats: number }} settings
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
 *           settings: { duration: number, warmup: number, repeats: number }, log: (line: string) => void }} o
 * @returns {Promise<ScenarioResult>}
 */
export async function runScenario(scenario, variants, o) {
  const wanted = scenario.variants
    ? scenario.variants(variants)
    : variants.filter((v) => !scenario.peers || scenario.peers.includes(v.kind.name));
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
  try {
    for (const p of peers) if (!p.peer.measure) await warm(p.peer.url, scenario, o.settings.warmup);
    for (const p of interleave(peers, o.settings.repeats)) {
      const measure = p.peer.measure ?? scenario.measure ?? measureLoad;
      const sample = await measure(
        { url: p.peer.url, seconds: o.settings.duration, pid: p.peer.pid, upstreamPid: o.upstream.pid },
        scenario,
      );
      p.samples.push(sample);
      o.log(formatSampleLine(p.v.id, sample));
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
    date: new Date().toISOString(),
    settings: { ...o.settings },
    skipped,
    rows: compareRows(
      peers.map((p) => ({
        id: p.v.id,
        kind: p.v.kind.name,
        workers: p.v.workers,
        samples: p.samples,
        summary: summarize(p.samples),
      })),
      scenario.baseline,
    ),
  };
  if (notes?.lines.length) result.notes = notes.lines;
  if (notes?.data) result.data = notes.data;
  return result;
}
