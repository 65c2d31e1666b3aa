/**
 * CPU time the proxy spends per request, for builds or settings side by side: each variant runs a
 * 1-worker Pillion in front of `bench/upstream.js`, wrk drives it, and the proxy's utime+stime (from
 * /proc/PID/stat, before and after the run) divided by wrk's request count is the figure. Variants
 * are interleaved round by round so that a busy moment on a shared machine hits all of them.
 *
 *   node scripts/cpu-per-request.js --variant label=before,root=/path/to/other/checkout \
 *                                   --variant label=after [--rounds 3] [--duration 8] [--conns 50]
 *
 * A variant is comma-separated key=value: label (required), root (a Pillion checkout, default this
 * one), env (NAME=VALUE pairs joined by ';', set for the proxy), node (node options joined by ';'),
 * config (YAML lines joined by ';' added to the config's top level, e.g. worker_heap: {...}),
 * filters (a JSON file holding the listener's `filters:` list, e.g. to measure a filter's cost).
 * The config is one HTTP listener, route / to one cluster of one endpoint, access logs off.
 * With --trace-gc the proxy runs with node's --trace-gc and the collections during the measured run
 * are summed too (minor = scavenges, major = mark-compacts; time and per request).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    variant: { type: 'string', multiple: true, default: [] },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '8' },
    conns: { type: 'string', default: '50' },
    port: { type: 'string', default: '18280' },
    path: { type: 'string', default: '/' },
    'trace-gc': { type: 'boolean', default: false },
  },
});
if (opt.variant.length === 0) {
  process.stderr.write('usage: node scripts/cpu-per-request.js --variant label=NAME[,root=DIR][,env=A=1;B=2][,node=--flag][,config=KEY: VALUE][,filters=FILE.json] ...\n');
  process.exit(2);
}
const variants = opt.variant.map((v) => {
  const o = {};
  for (const part of v.split(',')) {
    const i = part.indexOf('=');
    o[part.slice(0, i)] = part.slice(i + 1);
  }
  const env = {};
  for (const pair of (o.env ?? '').split(';').filter(Boolean)) {
    const i = pair.indexOf('=');
    env[pair.slice(0, i)] = pair.slice(i + 1);
  }
  const filters = o.filters ? JSON.stringify(JSON.parse(readFileSync(o.filters, 'utf8'))) : null;
  return { label: o.label, root: resolve(o.root ?? join(here, '..')), env, node: (o.node ?? '').split(';').filter(Boolean), config: (o.config ?? '').split(';').filter(Boolean), filters };
});
const port = Number(opt.port);
const upstreamPort = port + 10;
const adminPort = port + 1;
const CLK_TCK = 100;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cpuSeconds = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').slice(readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime, stime (fields 14 and 15)
};
const rssMB = (pid) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

function config(v) {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-cpu-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(
    file,
    `workers: 1
admin: { address: 127.0.0.1, port: ${adminPort} }
log: { level: warn }
access_log: { enabled: false }
${v.config.join('\n')}
listeners:
  - name: web
    protocol: http
    address: 127.0.0.1
    port: ${port}
${v.filters ? `    filters: ${v.filters}\n` : ''}    routes:
      - match: { prefix: / }
        cluster: app
clusters:
  - name: app
    endpoints:
      - { address: 127.0.0.1, port: ${upstreamPort} }
`,
  );
  return file;
}

async function start(v) {
  const child = spawn(process.execPath, [...v.node, ...(opt['trace-gc'] ? ['--trace-gc'] : []), join(v.root, 'packages/workers/bin/pillion.js'), '--config', config(v), '--no-watch'], {
    stdio: ['ignore', opt['trace-gc'] ? 'pipe' : 'ignore', 'inherit'],
    env: { ...process.env, ...v.env },
  });
  child.gcLines = [];
  child.stdout?.setEncoding('utf8');
  let partial = '';
  child.stdout?.on('data', (d) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop();
    for (const l of lines) if (/ ms: (Scavenge|Mark-Compact|Minor Mark-Compact|Mark-sweep)/.test(l)) child.gcLines.push(l);
  });
  for (let i = 0; i < 400; i++) {
    await sleep(50);
    if (child.exitCode !== null) throw new Error(`${v.label}: pillion exited ${child.exitCode}`);
    if (await fetch(`http://127.0.0.1:${adminPort}/ready`).then((r) => r.ok, () => false)) return child;
  }
  throw new Error(`${v.label}: not ready`);
}

function wrk(seconds) {
  return new Promise((ok, fail) => {
    const child = spawn('wrk', ['-t1', `-c${opt.conns}`, `-d${seconds}s`, `http://127.0.0.1:${port}${opt.path}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('error', (e) => fail(new Error(`wrk: ${e.message} (apt-get install -y wrk)`)));
    child.once('exit', () => {
      const requests = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
      const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
      const errors = /Socket errors: (.*)/.exec(out)?.[1];
      ok({ requests, rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN), non2xx, errors });
    });
  });
}

const upstream = spawn(process.execPath, [join(here, '../bench/upstream.js'), '--port', String(upstreamPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
await new Promise((r) => upstream.stdout.once('data', r));
const rows = [];
try {
  for (let round = 1; round <= Number(opt.rounds); round++) {
    for (const v of variants) {
      const child = await start(v);
      await sleep(1000);
      await wrk(1); // warm-up: JIT, pools
      const cpu0 = cpuSeconds(child.pid);
      const gc0 = child.gcLines.length;
      const r = await wrk(Number(opt.duration));
      const cpu = cpuSeconds(child.pid) - cpu0;
      await sleep(200);
      const gc = gcSummary(child.gcLines.slice(gc0), r.requests);
      const row = { round, label: v.label, rps: r.rps, usPerReq: (cpu / r.requests) * 1e6, rssAfter: rssMB(child.pid), non2xx: r.non2xx, errors: r.errors, gc };
      rows.push(row);
      console.log(`round ${round} ${v.label.padEnd(14)} ${row.rps.toFixed(0).padStart(7)} req/s  ${row.usPerReq.toFixed(2).padStart(6)} us CPU/req  RSS ${row.rssAfter.toFixed(1)} MB${gc ? `  GC: ${gc.minor} minor ${gc.minorMs.toFixed(0)} ms, ${gc.major} major ${gc.majorMs.toFixed(0)} ms, ${gc.usPerReq.toFixed(2)} us/req` : ''}${r.non2xx ? `  non-2xx ${r.non2xx}` : ''}${r.errors ? `  errors ${r.errors}` : ''}`);
      const gone = new Promise((res) => child.once('exit', res));
      child.kill('SIGTERM');
      await gone;
    }
  }
} finally {
  upstream.kill('SIGTERM');
}
/** Collections in trace-gc lines, for `requests` requests; null without --trace-gc. */
function gcSummary(lines, requests) {
  if (!opt['trace-gc']) return null;
  const out = { minor: 0, minorMs: 0, major: 0, majorMs: 0, usPerReq: 0 };
  for (const l of lines) {
    const m = / ms: (Scavenge|Minor Mark-Compact|Mark-Compact|Mark-sweep).*?MB, ([\d.]+) \/ ([\d.]+) ms/.exec(l);
    if (!m) continue;
    const ms = Number(m[2]);
    if (m[1] === 'Scavenge' || m[1] === 'Minor Mark-Compact') {
      out.minor++;
      out.minorMs += ms;
    } else {
      out.major++;
      out.majorMs += ms;
    }
  }
  out.usPerReq = ((out.minorMs + out.majorMs) / requests) * 1000;
  return out;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
console.log(`\nmedians over ${opt.rounds} rounds (wrk -t1 -c${opt.conns} -d${opt.duration}s, 1 worker):`);
for (const v of variants) {
  const mine = rows.filter((r) => r.label === v.label);
  const us = mine.map((r) => r.usPerReq);
  const gc = mine[0].gc ? `  GC ${median(mine.map((r) => r.gc.usPerReq)).toFixed(2)} us/req (${median(mine.map((r) => r.gc.minor))} minor, ${median(mine.map((r) => r.gc.major))} major)` : '';
  console.log(`${v.label.padEnd(14)} ${median(mine.map((r) => r.rps)).toFixed(0).padStart(7)} req/s  ${median(us).toFixed(2).padStart(6)} us CPU/req (${Math.min(...us).toFixed(2)}-${Math.max(...us).toFixed(2)})  RSS after ${median(mine.map((r) => r.rssAfter)).toFixed(1)} MB${gc}`);
}
