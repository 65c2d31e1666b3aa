/**
 * HTTP/2 between Pillion and real programs (two workers, certificates made in the test):
 *
 * - curl with `--http2-prior-knowledge` against an h2c listener, and `--http2` against a TLS
 *   listener (ALPN picks h2; `--http1.1` on the same port still gets HTTP/1.1), nginx behind it
 *   over HTTP/1.1: curl reports `%{http_version}` 2, and nginx answers what it received.
 * - h2load (`-n 100000 -c 10 -m 10`) against the h2c listener in front of nginx over HTTP/1.1:
 *   every request answered 2xx, none failed, errored or timed out.
 * - nginx as an HTTP/2 upstream (`listen ... http2`, cleartext with prior knowledge, nginx 1.22's
 *   syntax) behind a cluster with `protocol: h2c`: curl through Pillion gets nginx's answer, and
 *   nginx saw HTTP/2.0; h2load through it completes without errors.
 *
 * Run with `pnpm test:interop`; needs the Debian packages curl, nginx and nghttp2-client (h2load).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, writePem } from '../helpers/certs.js';
import { metricSum, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait-for.js';
import { startNginx, type Nginx } from './nginx.js';
import { requirePrograms } from './programs.js';

const bins = requirePrograms();
const h2load = bins.h2load;

let dir: string;
let caFile: string;
let pillion: PillionProcess;
let nginx: Nginx;
let nginxH2: H2cNginx;
let ports: { h2c: number; tls: number; toH2: number };

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(binary: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(binary, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * curl without ~/.curlrc or proxies, with a deadline; `-w` appends, after a newline, the HTTP version
 * and the status (`written`: "2 200").
 */
async function curl(args: string[]): Promise<{ code: number; written: string; body: string; stderr: string }> {
  const r = await run(bins.curl, ['-q', '-sS', '--noproxy', '*', '--max-time', '15', '-w', '\n%{http_version} %{http_code}', ...args], 20_000);
  const nl = r.stdout.lastIndexOf('\n');
  return { code: r.code, written: r.stdout.slice(nl + 1), body: r.stdout.slice(0, nl), stderr: r.stderr };
}

interface H2loadResult {
  requests: Record<'total' | 'started' | 'done' | 'succeeded' | 'failed' | 'errored' | 'timeout', number>;
  status: Record<'2xx' | '3xx' | '4xx' | '5xx', number>;
  output: string;
}

/** h2load over h2c (its default for http:// URIs), parsed from its summary lines. */
async function runH2load(url: string, n: number, clients: number, streams: number): Promise<H2loadResult> {
  const r = await run(h2load, ['-n', String(n), '-c', String(clients), '-m', String(streams), url], 180_000);
  const output = `${r.stdout}\n${r.stderr}`;
  if (r.code !== 0) throw new Error(`h2load exited ${r.code}:\n${output}`);
  const req = /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout$/m.exec(r.stdout);
  const st = /^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx$/m.exec(r.stdout);
  if (!req || !st) throw new Error(`h2load printed no summary:\n${output}`);
  const [total, started, done, succeeded, failed, errored, timeout] = req.slice(1).map(Number) as [number, number, number, number, number, number, number];
  const [s2, s3, s4, s5] = st.slice(1).map(Number) as [number, number, number, number];
  return { requests: { total, started, done, succeeded, failed, errored, timeout }, status: { '2xx': s2, '3xx': s3, '4xx': s4, '5xx': s5 }, output };
}

interface H2cNginx {
  port: number;
  errorLog(): string;
  stop(): Promise<void>;
}

/**
 * nginx serving cleartext HTTP/2 with prior knowledge (`listen ADDR:PORT http2;`, the syntax of nginx
 * 1.22; 1.25.1 moved it to `http2 on;`). `/proto` answers with the protocol nginx saw.
 */
async function startH2cNginx(home: string, port: number): Promise<H2cNginx> {
  const root = join(home, 'www');
  const tmp = join(home, 'tmp');
  mkdirSync(root, { recursive: true });
  mkdirSync(tmp, { recursive: true });
  writeFileSync(join(root, 'index.html'), 'hello from nginx over h2c\n');
  const errorLog = join(home, 'error.log');
  const conf = join(home, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${join(home, 'nginx.pid')};
error_log ${errorLog} warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${join(tmp, 'body')};
  proxy_temp_path ${join(tmp, 'proxy')};
  fastcgi_temp_path ${join(tmp, 'fastcgi')};
  uwsgi_temp_path ${join(tmp, 'uwsgi')};
  scgi_temp_path ${join(tmp, 'scgi')};
  default_type application/octet-stream;
  http2_max_requests 1000000;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:${port} http2;
    root ${root};
    location /proto {
      default_type text/plain;
      return 200 "$server_protocol $request_method $request_uri host=$http_host\\n";
    }
  }
}
`,
  );
  const child: ChildProcess = spawn(bins.nginx, ['-c', conf, '-p', home, '-e', errorLog], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const readLog = () => {
    try {
      return readFileSync(errorLog, 'utf8');
    } catch {
      return '';
    }
  };
  const open = () =>
    new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
  await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`nginx (h2c) exited ${child.exitCode}:\n${out}\n${readLog()}`);
      return open();
    },
    { timeoutMs: 10_000, intervalMs: 20, message: `nginx (h2c) listening on 127.0.0.1:${port}` },
  );
  return {
    port,
    errorLog: readLog,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pillion-interop-h2-'));
  const pki = await createPki();
  const certs = join(dir, 'certs');
  mkdirSync(certs, { recursive: true });
  caFile = join(certs, 'ca.pem');
  writeFileSync(caFile, pki.ca.cert);
  const server = writePem(certs, 'server', await pki.leaf({ cn: 'localhost', dns: ['localhost'], usage: 'server' }));
  const [pNginx, pNginxH2, h2c, tls, toH2, admin] = await freePorts(6);
  ports = { h2c: h2c!, tls: tls!, toH2: toH2! };
  nginx = await startNginx(bins.nginx, join(dir, 'nginx'), pNginx!);
  writeFileSync(join(nginx.root, 'small.txt'), 'small file from nginx\n');
  nginxH2 = await startH2cNginx(join(dir, 'nginx-h2c'), pNginxH2!);
  const to = (cluster: string) => [{ match: { prefix: '/' }, cluster }];
  pillion = await startPillion({
    workers: 2,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [
      { name: 'h2c', protocol: 'http', codec: 'h2c', port: ports.h2c, routes: to('nginx') },
      { name: 'tls', protocol: 'http', port: ports.tls, routes: to('nginx'), tls: { certificates: [server] } },
      { name: 'to-h2', protocol: 'http', codec: 'h2c', port: ports.toH2, routes: to('nginx-h2c') },
    ],
    clusters: [
      { name: 'nginx', endpoints: [{ address: '127.0.0.1', port: pNginx }] },
      { name: 'nginx-h2c', protocol: 'h2c', endpoints: [{ address: '127.0.0.1', port: pNginxH2 }] },
    ],
  });
});

afterAll(async () => {
  await pillion?.stop();
  await Promise.all([nginx?.stop(), nginxH2?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('curl', () => {
  it('--http2-prior-knowledge to an h2c listener: HTTP/2, nginx answers over HTTP/1.1', async () => {
    const r = await curl(['--http2-prior-knowledge', `http://127.0.0.1:${ports.h2c}/echo?x=1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.written).toBe('2 200');
    expect(r.body).toBe('127.0.0.1 GET /echo?x=1\n');
  });

  it('--http2-prior-knowledge: a file from nginx, and a 404 relayed', async () => {
    const file = await curl(['--http2-prior-knowledge', `http://127.0.0.1:${ports.h2c}/small.txt`]);
    expect(file.code, file.stderr).toBe(0);
    expect(file.written).toBe('2 200');
    expect(file.body).toBe('small file from nginx\n');
    const missing = await curl(['--http2-prior-knowledge', `http://127.0.0.1:${ports.h2c}/missing`]);
    expect(missing.code, missing.stderr).toBe(0);
    expect(missing.written).toBe('2 404');
    expect(missing.body).toMatch(/<title>404 Not Found<\/title>/);
  });

  it('--http2 to a TLS listener negotiates h2; --http1.1 on the same port gets HTTP/1.1', async () => {
    const base = ['--cacert', caFile, '--resolve', `localhost:${ports.tls}:127.0.0.1`];
    const h2 = await curl([...base, '--http2', `https://localhost:${ports.tls}/headers`]);
    expect(h2.code, h2.stderr).toBe(0);
    expect(h2.written).toBe('2 200');
    expect(h2.body).toBe('xfcc= proto=https\n');
    const h1 = await curl([...base, '--http1.1', `https://localhost:${ports.tls}/headers`]);
    expect(h1.code, h1.stderr).toBe(0);
    expect(h1.written).toBe('1.1 200');
    expect(h1.body).toBe('xfcc= proto=https\n');
  });
});

describe('h2load', () => {
  it('-n 100000 -c 10 -m 10 against the h2c listener, nginx over HTTP/1.1 behind it: every request 2xx, none failed', async () => {
    const r = await runH2load(`http://127.0.0.1:${ports.h2c}/small.txt`, 100_000, 10, 10);
    expect(r.requests, r.output).toEqual({ total: 100_000, started: 100_000, done: 100_000, succeeded: 100_000, failed: 0, errored: 0, timeout: 0 });
    expect(r.status).toEqual({ '2xx': 100_000, '3xx': 0, '4xx': 0, '5xx': 0 });
    // Both workers took connections.
    const streams = metricSum(await pillion.metrics(), 'pillion_h2_streams_total', { listener: 'h2c' });
    expect(streams).toBeGreaterThanOrEqual(100_000);
  }, 200_000);
});

describe('nginx as an HTTP/2 upstream (cluster protocol h2c)', () => {
  it('curl through Pillion: nginx answers, having seen HTTP/2.0', async () => {
    const r = await curl(['--http2-prior-knowledge', `http://127.0.0.1:${ports.toH2}/proto?y=2`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.written).toBe('2 200');
    expect(r.body).toBe(`HTTP/2.0 GET /proto?y=2 host=127.0.0.1:${ports.toH2}\n`);
    expect(metricSum(await pillion.metrics(), 'pillion_upstream_h2_streams_total', { cluster: 'nginx-h2c' })).toBeGreaterThanOrEqual(1);
  });

  it('h2load -n 20000 -c 10 -m 10 through Pillion to nginx over h2c: every request 2xx', async () => {
    const r = await runH2load(`http://127.0.0.1:${ports.toH2}/index.html`, 20_000, 10, 10);
    expect(r.requests, r.output).toEqual({ total: 20_000, started: 20_000, done: 20_000, succeeded: 20_000, failed: 0, errored: 0, timeout: 0 });
    expect(r.status).toEqual({ '2xx': 20_000, '3xx': 0, '4xx': 0, '5xx': 0 });
    expect(nginxH2.errorLog()).not.toMatch(/\[(error|crit|alert|emerg)\]/);
  }, 200_000);
});
