/**
 * First-request latency through Pillion to an endpoint behind TLS, cold against warm: a 1-worker
 * Pillion with two clusters of the same HTTPS upstreams, `cold` (no warm-up) and `warm`
 * (`pool.warmup`). Each try replaces a cluster's endpoint with the other upstream through the admin
 * API (`PUT /clusters/NAME/endpoints`), so the endpoint is new to the worker, waits until every worker
 * runs the change (the old endpoint's slot is freed; for `warm` also until the new pool is warm), and
 * times one GET over a client connection to Pillion that is already open, then a second one (which
 * finds the connection the first left in the pool: the steady state). Cold pays TCP and TLS setup to
 * the endpoint; warm should pay neither.
 *
 *   node scripts/tls-first-request.js [--tries 10]
 *
 * Needs a build (`npx tsc -b`) and `openssl` (for the test certificates: a CA and a P-256 server
 * certificate for 127.0.0.1). Prints each try and the median, minimum and maximum per cluster.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { createServer } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values: opt } = parseArgs({ options: { tries: { type: 'string', default: '10' } } });
const tries = Number(opt.tries);

const dir = mkdtempSync(join(tmpdir(), 'pillion-tls-first-'));
const ssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key');
ssl('req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=First Request CA', '-days', '2', '-out', 'ca.pem');
ssl('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'server.key');
ssl('req', '-new', '-key', 'server.key', '-subj', '/CN=127.0.0.1', '-out', 'server.csr');
writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'ext.cnf', '-out', 'server.pem');

async function freePort() {
  const s = createNetServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

/** An HTTPS upstream answering 200 with `x-upstream: NAME`. */
async function upstream(name) {
  const server = createServer({ cert: readFileSync(join(dir, 'server.pem')), key: readFileSync(join(dir, 'server.key')) }, (req, res) => {
    res.setHeader('x-upstream', name);
    res.end('ok');
  });
  server.keepAliveTimeout = 60_000;
  const port = await freePort();
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { name, port, server };
}

const ups = [await upstream('a'), await upstream('b')];
const [listen, admin] = [await freePort(), await freePort()];
const ca = join(dir, 'ca.pem');
const config = {
  workers: 1,
  admin: { port: admin },
  access_log: { enabled: false },
  log: { level: 'warn' },
  listeners: [{ name: 'web', protocol: 'http', port: listen, routes: ['cold', 'warm'].map((c) => ({ match: { prefix: `/${c}/` }, cluster: c })) }],
  clusters: [
    { name: 'cold', endpoints: [{ address: '127.0.0.1', port: ups[0].port }], tls: { ca_file: ca } },
    { name: 'warm', endpoints: [{ address: '127.0.0.1', port: ups[0].port }], tls: { ca_file: ca }, pool: { warmup: { connections: 2 } } },
  ],
};
const file = join(dir, 'config.json');
writeFileSync(file, JSON.stringify(config));
const proxy = spawn(process.execPath, [resolve(here, '../packages/workers/bin/pillion.js'), '--config', file], { stdio: ['ignore', 'inherit', 'inherit'] });
const adminUrl = `http://127.0.0.1:${admin}`;

async function until(what, condition, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const clusters = async () => (await fetch(`${adminUrl}/clusters`)).json();
await until('pillion to be ready', async () => (await fetch(`${adminUrl}/ready`)).status === 200);

// One keep-alive connection from the client to Pillion, opened before each timed request.
const agent = new Agent({ keepAlive: true, maxSockets: 1 });
function get(path) {
  return new Promise((resolvePromise, reject) => {
    const t0 = performance.now();
    const req = httpRequest({ host: '127.0.0.1', port: listen, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolvePromise({ ms: performance.now() - t0, status: res.statusCode, upstream: res.headers['x-upstream'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

const results = { cold: [], warm: [] };
const next = [];
for (let i = 0; i < tries; i++) {
  for (const cluster of ['cold', 'warm']) {
    const to = ups[(i + 1) % 2];
    const old = ups[i % 2];
    const put = await fetch(`${adminUrl}/clusters/${cluster}/endpoints`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ address: '127.0.0.1', port: to.port }]),
    });
    if (put.status >= 300) throw new Error(`PUT: ${put.status} ${await put.text()}`);
    // Every worker runs the change once the old endpoint's slot is freed.
    await until('the change to reach the worker', async () => {
      const c = (await clusters()).find((x) => x.name === cluster);
      const e = c.endpoints.find((x) => x.port === to.port);
      return !c.endpoints.some((x) => x.port === old.port) && e !== undefined && (cluster === 'cold' || e.warm === true);
    });
    await get('/ping'); // the client's connection to Pillion is open
    const r = await get(`/${cluster}/x`);
    if (r.status !== 200 || r.upstream !== to.name) throw new Error(`unexpected answer ${r.status} from ${r.upstream}`);
    results[cluster].push(r.ms);
    const again = await get(`/${cluster}/y`);
    next.push(again.ms);
    process.stdout.write(`try ${i + 1} ${cluster}: first ${r.ms.toFixed(3)} ms, next ${again.ms.toFixed(3)} ms\n`);
  }
}

const metrics = await (await fetch(`${adminUrl}/metrics`)).text();
const sample = (name, cluster) => Number(new RegExp(`^${name}\\{cluster="${cluster}"\\} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
const median = (xs) => (xs.length % 2 ? xs[(xs.length - 1) / 2] : (xs[xs.length / 2 - 1] + xs[xs.length / 2]) / 2);
for (const cluster of ['cold', 'warm']) {
  const xs = [...results[cluster]].sort((a, b) => a - b);
  const handshakes = sample('pillion_upstream_tls_handshakes_total', cluster);
  const seconds = sample('pillion_upstream_tls_handshake_seconds_sum', cluster);
  process.stdout.write(
    `${cluster}: first request p50 ${median(xs).toFixed(3)} ms, min ${xs[0].toFixed(3)}, max ${xs[xs.length - 1].toFixed(3)} over ${xs.length} tries; ` +
      `${handshakes} upstream TLS handshakes, mean ${((seconds / handshakes) * 1000).toFixed(3)} ms\n`,
  );
}
process.stdout.write(`next request (a pooled connection, both clusters): p50 ${median(next.sort((a, b) => a - b)).toFixed(3)} ms over ${next.length}\n`);
agent.destroy();
proxy.kill('SIGTERM');
await new Promise((r) => proxy.on('exit', r));
for (const u of ups) {
  u.server.closeAllConnections();
  u.server.close();
}
