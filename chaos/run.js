#!/usr/bin/env node
// `pnpm chaos [SCENARIO...] [--quick]`: runs the fault scenarios in chaos/scenarios against Pillion on
// loopback, prints one row per scenario and checks the goals. A full run writes docs/reliability.md and
// docs/reliability.json (scenarios not run this time keep their last rows); `--quick` (smaller counts,
// a 60 s soak) writes chaos/results/quick.json only. Exits 1 when a goal is missed, naming it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { killChildren } from '../bench/lib/child.js';
import { machineInfo } from '../bench/lib/machine.js';
import { ROOT } from './lib/processes.js';
import { renderMarkdown } from './lib/report.js';
import { row } from './lib/row.js';
import { SCENARIOS } from './scenarios/index.js';

const DOC = path.join(ROOT, 'docs/reliability.md');
const JSON_FILE = path.join(ROOT, 'docs/reliability.json');
const QUICK_FILE = path.join(ROOT, 'chaos/results/quick.json');

const USAGE = `usage: pnpm chaos [SCENARIO...] [--quick]
scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`;

function uptime() {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim().replace(/^.*load average/, 'load average');
  } catch {
    return 'unknown';
  }
}

async function main() {
  const args = process.argv.slice(2);
  if (args.includes('--help')) {
    console.log(USAGE);
    return 0;
  }
  const quick = args.includes('--quick');
  const names = args.filter((a) => !a.startsWith('--'));
  const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length) {
    console.error(`unknown scenario ${unknown.join(', ')}\n${USAGE}`);
    return 2;
  }
  const chosen = names.length ? SCENARIOS.filter((s) => names.includes(s.name)) : SCENARIOS;
  const uptimeBefore = uptime();
  /** @type {import('./lib/row.js').Row[]} */
  const rows = [];
  for (const s of chosen) {
    const limitMs = (quick ? s.quickLimitS : s.limitS) * 1000;
    console.log(`== ${s.name} (at most ${limitMs / 1000} s)`);
    const t0 = performance.now();
    /** @type {NodeJS.Timeout | undefined} */
    let timer;
    try {
      const out = await Promise.race([
        s.run({ quick, log: (/** @type {string} */ line) => console.log(`   ${line}`) }),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`did not finish within ${limitMs / 1000} s`)), limitMs))),
      ]);
      rows.push(...out);
    } catch (e) {
      const err = /** @type {Error} */ (e);
      console.error(err.stack ?? err.message);
      rows.push(row({ scenario: s.name, goals: [{ goal: 'the scenario runs to its end', met: false, detail: err.message.split('\n')[0] ?? '' }] }));
    } finally {
      clearTimeout(timer);
      // Whatever a failed scenario left running must not hold ports or cores for the next one.
      killChildren();
    }
    console.log(`   done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  const run = { machine: machineInfo(), date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), command: `pnpm chaos${quick ? ' --quick' : ''}${names.length ? ` ${names.join(' ')}` : ''}`, uptimeBefore, uptimeAfter: uptime(), rows, quick };
  if (quick) {
    mkdirSync(path.dirname(QUICK_FILE), { recursive: true });
    writeFileSync(QUICK_FILE, JSON.stringify(run, null, 2) + '\n');
  } else {
    // Rows of scenarios not run this time stay, in the scenarios' order.
    const previous = existsSync(JSON_FILE) ? JSON.parse(readFileSync(JSON_FILE, 'utf8')) : null;
    const ran = new Set(rows.map((r) => r.scenario));
    const kept = previous && !names.length ? [] : (previous?.rows ?? []).filter((/** @type {import('./lib/row.js').Row} */ r) => !ran.has(r.scenario));
    const merged = [...kept, ...rows].sort((a, b) => a.scenario.localeCompare(b.scenario, 'en', { numeric: true }));
    const all = { ...run, rows: merged };
    writeFileSync(JSON_FILE, JSON.stringify(all, null, 2) + '\n');
    writeFileSync(DOC, renderMarkdown(all));
  }
  console.log('\n' + renderMarkdown(run));
  const missed = rows.flatMap((r) => r.goals.filter((g) => !g.met).map((g) => `${r.scenario}: ${g.goal} (${g.detail})`));
  if (missed.length) {
    console.error(`\n${missed.length} goal(s) missed:\n${missed.map((m) => `  - ${m}`).join('\n')}`);
    return 1;
  }
  console.log(`\nevery goal met (${rows.length} rows)`);
  return 0;
}

main().then(
  (code) => {
    killChildren();
    process.exit(code);
  },
  (err) => {
    console.error(err);
    killChildren();
    process.exit(1);
  },
);
