// The JSON a run leaves behind, and how a run of some scenarios folds into the last full one.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * @typedef {object} BenchResults
 * @property {string} date
 * @property {boolean} quick
 * @property {import('./machine.js').Machine} machine
 * @property {Record<string, string | null>} versions   null: not installed
 * @property {Record<string, string>} peers              kind → how it is set up
 * @property {Record<string, Record<string, unknown>>} [facts] kind → what its probe found (e.g. accepted config keys)
 * @property {{ peer: string, reason: string }[]} absent peer kinds left out, and why
 * @property {import('./baseline.js').Baseline['about']} [baseline]  the commit `--baseline` built Pillion from, and how
 * @property {import('./run-scenario.js').ScenarioResult[]} scenarios
 */

/**
 * A new run replaces the scenarios it measured and keeps the others from the previous
 * file, each with its own date; scenarios follow `order` (the registry's order).
 * @param {BenchResults | null} previous
 * @param {BenchResults} run
 * @param {ReadonlyArray<string>} order
 * @returns {BenchResults}
 */
export function mergeResults(previous, run, order) {
  const fresh = new Set(run.scenarios.map((s) => s.name));
  const kept = (previous?.scenarios ?? []).filter((s) => !fresh.has(s.name));
  const rank = (/** @type {string} */ name) => {
    const i = order.indexOf(name);
    return i === -1 ? order.length : i;
  };
  const scenarios = [...kept, ...run.scenarios].sort((a, b) => rank(a.name) - rank(b.name));
  return { ...run, scenarios };
}

/** @param {string} file @returns {BenchResults | null} */
export function readResults(file) {
  if (!existsSync(file)) return null;
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** @param {string} file @param {BenchResults} results */
export function writeResults(file, results) {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}
