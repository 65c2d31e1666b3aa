/**
 * The README's run command, run the way an operator (or a process manager) runs it: from the
 * repository root, `node_modules/.bin/pillion --config FILE`, with nothing in between. The process
 * that command starts must be the proxy itself, so that SIGHUP reloads the config (and the process
 * keeps serving) and SIGTERM drains, lets a request in flight finish, and exits 0.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { metric, writeConfig } from '../helpers/pillion.js';
import { waitFor } from '../helpers/wait-for.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Exactly what the README tells people to run, relative to the repository root. */
const COMMAND = 'node_modules/.bin/pillion';

function get(url: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}

/** Inodes of the TCP sockets listening on `port` (IPv4 and IPv6), from /proc/net. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address is ADDR:PORT, st 0A is LISTEN, inode is the tenth field.
      if (f.length > 9 && f[1]!.endsWith(`:${hexPort}`) && f[3] === '0A') inodes.add(f[9]!);
    }
  }
  return inodes;
}

/** Socket inodes among a process's open file descriptors. */
function socketInodes(pid: number): Set<string> {
  const out = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(m[1]!);
    } catch {
      // the descriptor closed while we looked
    }
  }
  return out;
}

/** An upstream whose `/hold` requests wait until the test releases them. */
interface HoldingUpstream {
  port: number;
  server: Server;
  held: ServerResponse[];
  releaseAll(): void;
}

async function startHoldingUpstream(port: number): Promise<HoldingUpstream> {
  const held: ServerResponse[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('content-type', 'text/plain');
      if (req.url === '/hold') held.push(res);
      else res.end('ok\n');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    port,
    server,
    held,
    releaseAll() {
      for (const res of held.splice(0)) res.end('held response body\n');
    },
  };
}

function config(listen: number, admin: number, upstream: number, generation: string) {
  return {
    workers: 2,
    admin: { port: admin },
    access_log: { enabled: false },
    drain_timeout: '20s',
    listeners: [
      {
        name: 'web',
        protocol: 'http',
        port: listen,
        routes: [{ match: { prefix: '/' }, cluster: 'c', response_headers: { add: { 'x-config-generation': generation } } }],
      },
    ],
    clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: upstream }] }],
  };
}

describe('the documented run command: node_modules/.bin/pillion --config FILE', () => {
  let upstream: HoldingUpstream;
  let child: ChildProcess;
  let out = '';
  let exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  let file: string;
  let listen: number;
  let admin: number;
  let upstreamPort: number;
  let adminUrl: string;
  let base: string;

  beforeAll(async () => {
    [listen, admin, upstreamPort] = (await freePorts(3)) as [number, number, number];
    upstream = await startHoldingUpstream(upstreamPort);
    file = writeConfig(config(listen, admin, upstreamPort, '1'));
    adminUrl = `http://127.0.0.1:${admin}`;
    base = `http://127.0.0.1:${listen}`;
    // As a user types it from the repository root; `--no-watch` so that only SIGHUP can reload.
    child = spawn(COMMAND, ['--config', file, '--no-watch'], {
      cwd: ROOT,
      env: { ...process.env, PILLION_LOG_FORMAT: 'json' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    await waitFor(
      async () => {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`pillion exited (${child.exitCode ?? child.signalCode}) before ready:\n${out}`);
        return fetch(`${adminUrl}/ready`).then((r) => r.status === 200, () => false);
      },
      { timeoutMs: 20_000, intervalMs: 25, message: 'GET /ready to answer 200' },
    );
  });

  afterAll(async () => {
    upstream?.releaseAll();
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    if (upstream) {
      upstream.server.closeAllConnections();
      await new Promise((r) => upstream.server.close(r));
    }
  });

  it('starts a process that is the proxy itself: node running the pillion bin, holding the listening sockets', () => {
    const pid = child.pid!;
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    // pnpm's shim is a shell script that `exec`s node, so the spawned PID is node's, not sh's.
    expect(basename(argv[0]!)).toMatch(/^node/);
    expect(basename(readlinkSync(`/proc/${pid}/exe`))).toMatch(/^node/);
    expect(argv[1]).toMatch(/@pillion\/workers\/bin\/pillion\.js$/);
    expect(argv.slice(2)).toEqual(['--config', file, '--no-watch']);
    // Its parent is this test process: nothing (no pnpm, no shell) sits between us and it.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    expect(ppid).toBe(process.pid);
    // And the sockets the proxy listens on (admin and the HTTP listener) are open in that very process.
    const mine = socketInodes(pid);
    for (const port of [admin, listen]) {
      const inodes = [...listeningInodes(port)];
      expect(inodes.length, `a socket listening on ${port}`).toBeGreaterThan(0);
      expect(inodes.every((i) => mine.has(i)), `port ${port} is held by PID ${pid}`).toBe(true);
    }
  });

  it('reloads the changed config file on SIGHUP and keeps running and serving', async () => {
    const before = await get(`${base}/`);
    expect(before.status).toBe(200);
    expect(before.headers['x-config-generation']).toBe('1');

    writeFileSync(file, JSON.stringify(config(listen, admin, upstreamPort, '2'), null, 2));
    const pid = child.pid!;
    expect(child.kill('SIGHUP')).toBe(true);

    await waitFor(
      async () => {
        const running = await fetch(`${adminUrl}/config`).then((r) => r.json() as Promise<any>, () => undefined);
        return running?.listeners?.[0]?.routes?.[0]?.response_headers?.add?.['x-config-generation'] === '2';
      },
      { timeoutMs: 10_000, intervalMs: 25, message: 'GET /config to show the reloaded route' },
    );
    expect(metric(await fetch(`${adminUrl}/metrics`).then((r) => r.text()), 'pillion_config_reloads_total', { result: 'success' })).toBe(1);

    // Still the same process, still running, still ready, and serving with the new config.
    expect(child.exitCode).toBeNull();
    expect(child.signalCode).toBeNull();
    expect(child.pid).toBe(pid);
    expect((await fetch(`${adminUrl}/ready`)).status).toBe(200);
    const after = await waitFor(
      async () => {
        const r = await get(`${base}/`);
        return r.headers['x-config-generation'] === '2' ? r : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 25, message: 'a response carrying the new header' },
    );
    expect(after.status).toBe(200);
    expect(out).not.toContain('"msg":"draining"');
  });

  it('drains on SIGTERM: the request in flight completes, then the process exits 0', async () => {
    const inFlight = get(`${base}/hold`);
    await waitFor(() => upstream.held.length === 1, { timeoutMs: 10_000, intervalMs: 25, message: 'the request to reach the upstream' });

    expect(child.kill('SIGTERM')).toBe(true);
    await waitFor(() => fetch(`${adminUrl}/ready`).then((r) => r.status === 503, () => false), { timeoutMs: 10_000, intervalMs: 25, message: 'GET /ready to turn 503 (draining)' });
    expect(child.exitCode).toBeNull(); // it waits for the request in flight

    upstream.releaseAll();
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.body).toBe('held response body\n');
    expect(res.headers['x-config-generation']).toBe('2');

    const { code, signal } = await exited;
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(out).toContain('"reason":"SIGTERM"');
    expect(out).toContain('"msg":"drained"');
  });
});
