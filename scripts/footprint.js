/**
 * Pillion's memory footprint, from a command: resident memory (VmRSS) of the proxy process idle, under
 * and after a load, holding many idle keep-alive connections, and for each worker count.
 *
 *   node scripts/footprint.js [options]
 *
 *   --workers 1,2        worker counts to measure (idle RSS for each; the extra-worker cost is the step)
 *   --runs N             repeat everything N times and report medians (default 3)
 *   --settle 5,30        seconds after /ready at which the idle figure is read (the last one is the
 *                        settled figure the rest compares with: V8 shrinks its heaps some seconds after
 *                        start-up)
 *   --conns N            connections of the load (default 200); --load S its seconds (default 3; 0 skips)
 *   --after 5,15,30,90   seconds after the load ends at which RSS is read again
 *   --idle-conns N       keep-alive connections opened and left idle (default 5000; 0 skips)
 *   --root DIR           the Pillion checkout to run (default: this one); lets two builds be compared
 *   --node-arg ARG       an option for the proxy's node (repeatable), e.g. --node-arg=--max-semi-space-size=1
 *   --config FILE        run this config instead of the demo-like one (its listener must be on --port)
 *   --top 'KEY: VALUE'   a top-level line added to the demo-like config (repeatable), e.g.
 *                        --top 'worker_heap: { young_generation_mb: 4 }'
 *   --scrape S           GET /metrics every S seconds from start-up on, as Prometheus would (default 0: off)
 *   --port N             the proxy's HTTP port (default 18180); --json prints the raw figures too
 *
 * The config is the demo's shape (examples/demo.yaml: one HTTP listener, /api to a two-endpoint
 * cluster, / to a one-endpoint cluster) with access logs off and log level warn. Its upstreams are
 * bench/upstream.js processes. The load needs wrk (`apt-get install -y wrk`); the idle connections
 * are opened here, each after one request, in a fresh settled process, and RSS is read before uWS
 * closes idle connections (about 10 s).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({
  options: {
    workers: { type: 'string', default: '1,2' },
    runs: { type: 'string', default: '3' },
    settle: { type: 'string', default: '5,30' },
    conns: { type: 'string', default: '200' },
    load: { type: 'string', default: '3' },
    after: { type: 'string', default: '5,15,30,90' },
    'idle-conns': { type: 'string', default: '5000' },
    root: { type: 'string', default: resolve(here, '..') },
    'node-arg': { type: 'string', multiple: true, default: [] },
    config: { type: 'string' },
    top: { type: 'string', multiple: true, default: [] },
    scrape: { type: 'string', default: '0' },
    port: { type: 'string', default: '18180' },
    json: { type: 'boolean', default: false },
  },
});
const workerCounts = opt.workers.split(',').map(Number);
const runs = Number(opt.runs);
const settleS = opt.settle.split(',').filter(Boolean).map(Number);
const loadSeconds = Number(opt.load);
const afterS = opt.after.split(',').filter(Boolean).map(Number);
const idleConns = Number(opt['idle-conns']);
const root = resolve(opt.root);
const port = Number(opt.port);
const adminPort = port + 1;
const upstreamPorts = [port + 10, port + 11, port + 12];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rssMB = (pid) => Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (x) => (x === undefined ? '-' : x.toFixed(1));

function demoConfig(workers) {
  const [a, b, c] = upstreamPorts;
  return `workers: ${workers}
admin: { address: 127.0.0.1, port: ${adminPort} }
log: { level: warn }
access_log: { enabled: false }
${opt.top.join('\n')}
listeners:
  - name: web
    protocol: http
    address: 127.0.0.1
    port: ${port}
    routes:
      - match: { prefix: /api }
        cluster: api
      - match: { prefix: / }
        cluster: web
clusters:
  - name: api
    lb: { policy: round-robin }
    endpoints:
      - { address: 127.0.0.1, port: ${a} }
      - { address: 127.0.0.1, port: ${b} }
  - name: web
    endpoints:
      - { address: 127.0.0.1, port: ${c} }
`;
}

function configFile(workers) {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-footprint-'));
  const file = join(dir, 'config.yaml');
  if (opt.config) {
    const text = readFileSync(opt.config, 'utf8').replace(/^workers:.*$/m, `workers: ${workers}`);
    writeFileSync(file, /^workers:/m.test(text) ? text : `workers: ${workers}\n${text}`);
  } else writeFileSync(file, demoConfig(workers));
  return file;
}

function startUpstreams() {
  const upstream = join(root, 'bench/upstream.js');
  const script = existsSync(upstream) ? upstream : join(here, '../bench/upstream.js');
  return Promise.all(
    upstreamPorts.map(
      (p) =>
        new Promise((ok, fail) => {
          const child = spawn(process.execPath, [script, '--port', String(p)], { stdio: ['ignore', 'pipe', 'inherit'] });
          child.stdout.once('data', () => ok(child));
          child.once('exit', (code) => fail(new Error(`upstream on ${p} exited ${code}`)));
        }),
    ),
  );
}

async function startPillion(workers) {
  const bin = join(root, 'packages/workers/bin/pillion.js');
  const child = spawn(process.execPath, [...opt['node-arg'], bin, '--config', configFile(workers), '--no-watch'], { stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 400; i++) {
    await sleep(50);
    if (child.exitCode !== null) throw new Error(`pillion exited ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${adminPort}/ready`).then((r) => r.ok, () => false);
    if (ok) {
      scraper(child);
      return child;
    }
  }
  child.kill('SIGKILL');
  throw new Error('pillion did not become ready in 20 s');
}

/** Scrapes /metrics every --scrape seconds while `child` runs. */
function scraper(child) {
  const every = Number(opt.scrape) * 1000;
  if (!every) return;
  const scrape = () => fetch(`http://127.0.0.1:${adminPort}/metrics`).then((r) => r.text(), () => '');
  void scrape();
  const timer = setInterval(scrape, every);
  child.once('exit', () => clearInterval(timer));
}

async function stop(child) {
  if (child.exitCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(t);
}

/** The median of a few RSS readings over about two seconds. */
async function steadyRss(pid) {
  const xs = [];
  for (let i = 0; i < 5; i++) {
    xs.push(rssMB(pid));
    await sleep(400);
  }
  return median(xs);
}

function wrk(conns, seconds) {
  return new Promise((ok, fail) => {
    const child = spawn('wrk', ['-t1', `-c${conns}`, `-d${seconds}s`, `http://127.0.0.1:${port}/api/hello`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('error', (e) => fail(new Error(`wrk: ${e.message} (apt-get install -y wrk)`)));
    child.once('exit', () => ok(Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? NaN)));
  });
}

/** Opens `n` connections, sends one keep-alive request on each, and resolves once all are answered. */
async function openIdle(n) {
  const sockets = [];
  const batch = 250;
  for (let i = 0; i < n; i += batch) {
    const wave = [];
    for (let j = i; j < Math.min(n, i + batch); j++) {
      wave.push(
        new Promise((ok, fail) => {
          const s = connect(port, '127.0.0.1');
          s.once('error', fail);
          s.once('connect', () => s.write('GET /api/hello HTTP/1.1\r\nhost: footprint\r\n\r\n'));
          s.once('data', () => ok(s));
          sockets.push(s);
        }),
      );
    }
    await Promise.all(wave);
  }
  return sockets;
}

/** Idle figures for `workers`; with the first worker count, also the load and what follows it. */
async function measure(workers) {
  const r = { workers };
  const child = await startPillion(workers);
  try {
    r.idleAt = await settle(child);
    r.idle = r.idleAt[settleS[settleS.length - 1]];
    if (workers !== workerCounts[0] || loadSeconds <= 0) return r;
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMB(child.pid))), 200);
    r.reqPerSec = await wrk(Number(opt.conns), loadSeconds);
    clearInterval(sampler);
    r.loadPeak = Math.max(peak, rssMB(child.pid));
    r.afterLoad = {};
    let waited = 0;
    for (const s of afterS) {
      await sleep((s - waited) * 1000);
      waited = s;
      r.afterLoad[s] = rssMB(child.pid);
    }
    return r;
  } finally {
    await stop(child);
  }
}

/** RSS at each settle point after /ready. */
async function settle(child) {
  const at = {};
  let waited = 0;
  for (const s of settleS) {
    await sleep((s - waited) * 1000);
    waited = s;
    at[s] = await steadyRss(child.pid);
  }
  return at;
}

/** A fresh, settled process holding `idleConns` keep-alive connections. */
async function measureIdleConns(workers) {
  const r = { workers };
  const child = await startPillion(workers);
  try {
    const at = await settle(child);
    r.before = at[settleS[settleS.length - 1]];
    const sockets = await openIdle(idleConns);
    await sleep(500);
    r.idleConns = rssMB(child.pid);
    for (const s of sockets) s.destroy();
    await sleep(5000);
    r.afterIdleConns = rssMB(child.pid);
    return r;
  } finally {
    await stop(child);
  }
}

const upstreams = await startUpstreams();
const results = [];
try {
  for (let run = 0; run < runs; run++) {
    for (const w of workerCounts) results.push(await measure(w));
    if (idleConns > 0) results.push({ connsRun: true, ...(await measureIdleConns(workerCounts[0])) });
  }
} finally {
  for (const u of upstreams) u.kill('SIGTERM');
}

const first = workerCounts[0];
const pick = (w, f) => results.filter((r) => r.workers === w && !r.connsRun).map(f).filter((x) => x !== undefined && !Number.isNaN(x));
const med = (w, f) => {
  const xs = pick(w, f);
  return xs.length ? median(xs) : undefined;
};
const spread = (w, f) => {
  const xs = pick(w, f);
  return xs.length > 1 ? ` (${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)})` : '';
};
const rows = [];
for (const w of workerCounts) {
  for (const s of settleS) rows.push([`idle, ${w} worker${w > 1 ? 's' : ''}, ${s} s after ready`, med(w, (r) => r.idleAt[s]), spread(w, (r) => r.idleAt[s])]);
}
for (let i = 1; i < workerCounts.length; i++) {
  const a = workerCounts[i - 1];
  const b = workerCounts[i];
  const step = (med(b, (r) => r.idle) - med(a, (r) => r.idle)) / (b - a);
  rows.push([`each worker from ${a} to ${b} (${settleS[settleS.length - 1]} s)`, step, '']);
}
if (loadSeconds > 0) {
  rows.push([`peak during ${opt.conns}-connection load (${first} worker)`, med(first, (r) => r.loadPeak), spread(first, (r) => r.loadPeak)]);
  for (const s of afterS) rows.push([`${s} s after the load`, med(first, (r) => r.afterLoad?.[s]), spread(first, (r) => r.afterLoad?.[s])]);
}
if (idleConns > 0) {
  const conns = results.filter((r) => r.connsRun);
  const row = (what, f) => {
    const xs = conns.map(f);
    rows.push([what, median(xs), xs.length > 1 ? ` (${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)})` : '']);
  };
  row(`fresh process, settled (${first} worker)`, (r) => r.before);
  row(`  then ${idleConns} idle keep-alive connections`, (r) => r.idleConns);
  row(`  5 s after closing them`, (r) => r.afterIdleConns);
}
console.log(`Pillion at ${root}, node ${process.version}${opt['node-arg'].length ? ' ' + opt['node-arg'].join(' ') : ''}${opt.top.length ? `, ${opt.top.join(', ')}` : ''}${Number(opt.scrape) ? `, /metrics scraped every ${opt.scrape} s` : ''}; VmRSS in MB, median of ${runs} (range)`);
for (const [what, v, range] of rows) console.log(`${what.padEnd(48)} ${fmt(v).padStart(7)}${range}`);
if (loadSeconds > 0) console.log(`load: wrk -t1 -c${opt.conns} -d${loadSeconds}s, ${fmt(med(first, (r) => r.reqPerSec))} req/s median`);
if (opt.json) console.log(JSON.stringify(results));
