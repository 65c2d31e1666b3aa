#!/usr/bin/env node
// `pnpm bench`: runs the scenarios in bench/scenarios against every installed peer and
// writes bench/results/latest.json and docs/benchmarks.md. `--help` lists the options;
// `--baseline REF` adds Pillion as built from another commit (lib/baseline.js).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { USAGE, parseBenchArgs } from './lib/args.js';
import { baselineFamilies, prepareBaseline, resolveCommit, twinVariant } from './lib/baseline.js';
import { startChild } from './lib/child.js';
import { h2loadVersion } from './lib/h2-load.js';
import { machineInfo } from './lib/machine.js';
import { renderMarkdown, renderTable } from './lib/report-markdown.js';
import { updateReadme } from './lib/readme-summary.js';
import { sharedCpuNote } from './lib/report-text.js';
import { mergeResults, readResults, writeResults } from './lib/results.js';
import { runScenario } from './lib/run-scenario.js';
import { PEER_KINDS, peerSelected, peerVariants } from './peers/index.js';
import { pillionFromTree } from './peers/pillion.js';
import { loadScenarios } from './scenarios/index.js';
import { wrkBinary } from './lib/wrk-load.js';
import { chartPath, scenarioChart } from './lib/chart-svg.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const LATEST = path.join(ROOT, 'bench/results/latest.json');
const QUICK = path.join(ROOT, 'bench/results/quick.json');
const DOC = path.join(ROOT, 'docs/benchmarks.md');

/**
 * docs/benchmarks.md and its charts (docs/benchmarks/SCENARIO.svg), from one results object.
 * @param {import('./lib/results.js').BenchResults} res
 */
function writeDoc(res) {
  for (const sc of res.scenarios) {
    const svg = scenarioChart(sc);
    if (svg === null) continue;
    const file = path.join(path.dirname(DOC), chartPath(sc.name));
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, svg);
  }
  writeFileSync(DOC, renderMarkdown(res));
}
const README = path.join(ROOT, 'README.md');
const require = createRequire(import.meta.url);

/** @param {string} line */
const log = (line) => console.log(line);

/** @param {string} pkg */
function packageVersion(pkg) {
  try {
    return JSON.parse(readFileSync(require.resolve(`${pkg}/package.json`), 'utf8')).version;
  } catch {
    return null;
  }
}

/**
 * Starts bench/upstream.js on a free port and waits for its "listening PORT" line.
 * @returns {Promise<{ host: string, port: number, pid: number, stop: () => Promise<void> }>}
 */
async function startUpstream() {
  /** @type {(port: number) => void} */
  let onPort = () => {};
  const port = new Promise((resolve) => {
    onPort = resolve;
  });
  const child = startChild(process.execPath, [path.join(ROOT, 'bench/upstream.js'), '--port', '0'], {
    onLine: (line) => {
      const m = /^listening (\d+)$/.exec(line.trim());
      if (m) onPort(Number(m[1]));
    },
  });
  const timeout = new Promise((resolve) => setTimeout(resolve, 10_000, 'timeout')).finally(() => {});
  const got = await Promise.race([port, child.exited.then(() => 'exited'), timeout]);
  if (typeof got !== 'number') {
    await child.stop('SIGKILL');
    throw new Error(`the upstream did not start (${got}):\n${child.output()}`);
  }
  return { host: '127.0.0.1', port: got, pid: child.pid, stop: () => child.stop() };
}

async function main() {
  /** @type {import('./lib/args.js').BenchArgs} */
  let args;
  try {
    args = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    console.error(err instanceof Error ? err.message : String(err));
    console.error(USAGE);
    return 2;
  }
  if (args.help) {
    log(USAGE);
    return 0;
  }
  const all = await loadScenarios();
  if (args.list) {
    const width = Math.max(20, ...all.map((s) => s.name.length + 1));
    log('scenarios:');
    for (const s of all) log(`  ${s.name.padEnd(width)} ${s.title}`);
    log('peers:');
    for (const k of PEER_KINDS) log(`  ${k.name.padEnd(width)} ${k.describe}`);
    return 0;
  }
  if (args.report) {
    const res = readResults(LATEST);
    if (!res) {
      console.error(`no results at ${LATEST}: run pnpm bench first`);
      return 1;
    }
    writeDoc(res);
    if (updateReadme(README, res)) log(`wrote ${path.relative(ROOT, README)}'s benchmark summary`);
    log(`wrote ${path.relative(ROOT, DOC)}`);
    return 0;
  }

  const unknown = args.scenarios.filter((n) => !all.some((s) => s.name === n));
  if (unknown.length) {
    console.error(`unknown scenario ${unknown.join(', ')}; known: ${all.map((s) => s.name).join(', ')}`);
    return 2;
  }
  const scenarios = args.scenarios.length ? all.filter((s) => args.scenarios.includes(s.name)) : all;
  const defaultWorkers = args.workers ?? os.availableParallelism();
  const selected = peerVariants(PEER_KINDS, defaultWorkers).filter((v) => peerSelected(v, args.peers));
  /** @type {import('./lib/run-scenario.js').Commit | null} */
  let commit = null;
  if (args.baseline !== null) {
    try {
      commit = resolveCommit(ROOT, args.baseline);
    } catch (err) {
      console.error(err instanceof Error ? err.message : String(err));
      return 2;
    }
    if (!baselineFamilies(selected).length) {
      console.error(`--baseline ${args.baseline} builds Pillion: select pillion or pillion-strict (--peers), or leave --peers out`);
      return 2;
    }
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'pillion-bench-'));
  const started = Date.now();
  /** @type {import('./lib/baseline.js').Baseline | null} */
  let baseline = null;
  try {
    const probes = await Promise.all(
      PEER_KINDS.map((kind) => kind.probe({ root: ROOT, dir: mkdtempSync(path.join(tmp, `probe-${kind.name}-`)) })),
    );
    /** @type {{ peer: string, reason: string }[]} */
    const absent = [];
    /** @type {Record<string, string | null>} */
    const versions = {};
    /** @type {import('./lib/run-scenario.js').ReadyVariant[]} */
    const variants = [];
    const installed = PEER_KINDS.filter((kind, i) => {
      const p = probes[i];
      if (kind.name !== 'direct') versions[kind.name] = p.ok ? p.version : null;
      if (!p.ok) absent.push({ peer: kind.name, reason: p.reason });
      return p.ok;
    });
    /** @type {Map<string, { kind: import('./lib/types.js').PeerKind, version: string, facts: Record<string, unknown> }>} */
    const twins = new Map();
    /** @type {import('./lib/types.js').PeerKind[]} */
    const twinKinds = [];
    if (commit) {
      try {
        baseline = await prepareBaseline({ root: ROOT, commit, log });
      } catch (err) {
        console.error(`--baseline ${commit.ref}: cannot build Pillion from ${commit.short}: ${err instanceof Error ? err.message : String(err)}`);
        return 1;
      }
      for (const family of baselineFamilies(selected)) {
        const kind = pillionFromTree(family, baseline.tree);
        const p = await kind.probe({ root: ROOT, dir: mkdtempSync(path.join(tmp, `probe-${family}-baseline-`)) });
        versions[kind.name] = p.ok ? p.version : null;
        if (p.ok) {
          twins.set(family, { kind, version: p.version, facts: p.facts ?? {} });
          twinKinds.push(kind);
        } else absent.push({ peer: kind.name, reason: p.reason });
      }
      if (!twins.size) {
        console.error(`--baseline ${commit.ref}: Pillion as built from ${commit.short} cannot run here:`);
        for (const a of absent.filter((x) => x.peer.endsWith(`@${commit?.short}`))) console.error(`  ${a.peer}: ${a.reason}`);
        return 1;
      }
    }
    versions.autocannon = packageVersion('autocannon');
    versions.h2load = await h2loadVersion();
    versions['uWebSockets.js (upstream)'] = packageVersion('uWebSockets.js');
    // Each twin from the baseline build runs right after the peer it mirrors.
    for (const v of selected) {
      const p = probes[PEER_KINDS.indexOf(v.kind)];
      if (p.ok) variants.push({ ...v, version: p.version, facts: p.facts ?? {} });
      const twin = twins.get(v.kind.name);
      if (twin && commit) variants.push(twinVariant(v, twin, commit));
    }
    for (const a of absent) log(`left out ${a.peer}: ${a.reason.split('\n')[0]}`);
    if (variants.length === 0) {
      console.error('no peer selected');
      return 2;
    }
    const machine = machineInfo();
    log(`peers: ${variants.map((v) => v.id).join(', ')}`);
    log(`note: ${sharedCpuNote(machine.cores, args.load)}`);
    if (args.load === 'wrk' && wrkBinary() === null) {
      console.error('--load wrk: wrk is not installed (apt-get install -y wrk)');
      return 2;
    }
    const settings = { duration: args.duration, warmup: args.warmup, repeats: args.repeats, load: args.load };

    const upstream = await startUpstream();
    /** @type {import('./lib/run-scenario.js').ScenarioResult[]} */
    const results = [];
    try {
      for (const scenario of scenarios) {
        log(`\n${scenario.name}: ${scenario.title}`);
        const r = await runScenario(scenario, variants, { root: ROOT, tmp, upstream, settings, log });
        results.push(r);
        log(`\n${renderTable(r)}`);
      }
    } finally {
      await upstream.stop();
    }

    /** @type {Record<string, string>} */
    const peers = {};
    /** @type {Record<string, Record<string, unknown>>} */
    const facts = {};
    for (const k of installed) {
      peers[k.name] = k.describe;
      const p = probes[PEER_KINDS.indexOf(k)];
      if (p.ok && p.facts) facts[k.name] = p.facts;
    }
    for (const k of twinKinds) {
      peers[k.name] = k.describe;
      const t = twins.get(k.family ?? '');
      if (t) facts[k.name] = t.facts;
    }
    /** @type {import('./lib/results.js').BenchResults} */
    const run = {
      date: new Date().toISOString(),
      quick: args.quick,
      machine,
      versions,
      peers,
      facts,
      absent,
      ...(baseline ? { baseline: baseline.about } : {}),
      scenarios: results,
    };
    if (args.quick) {
      writeResults(QUICK, run);
      log(`\nwrote ${path.relative(ROOT, QUICK)} (a quick pass leaves latest.json and docs/benchmarks.md alone)`);
    } else {
      const merged = mergeResults(readResults(LATEST), run, all.map((s) => s.name));
      writeResults(LATEST, merged);
      writeDoc(merged);
      updateReadme(README, merged);
      log(`\nwrote ${path.relative(ROOT, LATEST)}, ${path.relative(ROOT, DOC)} and the README's summary`);
    }
    log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return 0;
  } finally {
    baseline?.remove();
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.stack : err);
    process.exit(1);
  },
);
