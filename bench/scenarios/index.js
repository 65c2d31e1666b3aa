// Scenario registry: every other .js file in this folder is a scenario (its default export
// is a Scenario, see lib/types.js). Adding a scenario is adding a file.
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const DIR = fileURLToPath(new URL('.', import.meta.url));

/**
 * Checks the parts of a scenario the runner relies on, so a broken file names itself.
 * @param {unknown} s
 * @param {string} file
 * @returns {import('../lib/types.js').Scenario}
 */
export function checkScenario(s, file) {
  const bad = (/** @type {string} */ why) => new Error(`bench/scenarios/${file}: ${why}`);
  if (!s || typeof s !== 'object') throw bad('default export must be a scenario object');
  const o = /** @type {Record<string, any>} */ (s);
  if (typeof o.name !== 'string' || !/^[a-z0-9][a-z0-9-]*$/.test(o.name)) throw bad('name must be kebab-case');
  if (typeof o.title !== 'string') throw bad('title must be a string');
  if (typeof o.order !== 'number') throw bad('order must be a number');
  if (!o.measure) {
    const load = o.load;
    if (!load || !Number.isInteger(load.connections) || load.connections < 1) throw bad('load.connections must be a positive integer');
    if (typeof load.path !== 'string' || !load.path.startsWith('/')) throw bad('load.path must start with /');
  }
  return /** @type {import('../lib/types.js').Scenario} */ (s);
}

/** @returns {Promise<import('../lib/types.js').Scenario[]>} */
export async function loadScenarios() {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.js') && f !== 'index.js' && !f.startsWith('_'));
  const list = [];
  for (const file of files) {
    const mod = await import(new URL(file, import.meta.url).href);
    list.push(checkScenario(mod.default, file));
  }
  const seen = new Set();
  for (const s of list) {
    if (seen.has(s.name)) throw new Error(`two scenarios are named "${s.name}"`);
    seen.add(s.name);
  }
  return list.sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
}
