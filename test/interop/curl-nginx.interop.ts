/**
 * curl as the client and a real nginx as the upstream, through Pillion, on each HTTP listener codec
 * (uws, http1-strict): a static file of a few MiB byte-exact (GET, HEAD, HTTP/1.0), uploads of a few
 * MiB echoed byte-exact by a small Node upstream (Content-Length and chunked; curl sends
 * `Expect: 100-continue` for them), nginx's 404 relayed, a malformed request refused by Pillion with
 * 400, and curl's keep-alive reuse across `--next`.
 *
 * Where the codecs differ on purpose, the test says so: uws serves no HTTP/1.0 (docs/http1-limits.md).
 * Run with `pnpm test:interop`; needs the Debian packages curl and nginx (see ./programs.ts).
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleConfig } from '../helpers/configs.js';
import { startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { startNginx, type Nginx } from './nginx.js';
import { requirePrograms } from './programs.js';

const bins = requirePrograms();

const FILE_SIZE = 4 * 1024 * 1024 + 123; // a few MiB, not a round number
const UPLOAD_SIZE = 3 * 1024 * 1024 + 77;

let dir: string;
let nginx: Nginx;
let echo: Server;
let echoPort: number;
let fileSha: string;
let uploadFile: string;
let uploadSha: string;
/** Requests the echo upstream received. */
let echoRequests = 0;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface CurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs curl (no ~/.curlrc, no proxy from the environment, a deadline); never rejects. */
function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile(bins.curl, ['-q', '-sS', '--noproxy', '*', '--max-time', '20', ...args], { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Fails with everything curl said when it did not exit 0. */
function ok(r: CurlResult): CurlResult {
  if (r.code !== 0) throw new Error(`curl exited ${r.code}: ${r.stderr}\n${r.stdout}`);
  return r;
}

let n = 0;
const out = (name: string) => join(dir, `${name}-${++n}`);

/** Echoes a request's body, with the framing it arrived in, in response headers. */
function startEcho(port: number): Promise<Server> {
  const s = createServer((req, res) => {
    echoRequests++;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      res.setHeader('content-type', 'application/octet-stream');
      res.setHeader('x-seen-content-length', String(req.headers['content-length'] ?? ''));
      res.setHeader('x-seen-transfer-encoding', String(req.headers['transfer-encoding'] ?? ''));
      res.setHeader('x-seen-bytes', String(body.length));
      res.end(body);
    });
  });
  s.keepAliveTimeout = 60_000;
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pillion-interop-'));
  const [nginxPort, ep] = await freePorts(2);
  echoPort = ep!;
  nginx = await startNginx(bins.nginx, dir, nginxPort!);
  const file = randomBytes(FILE_SIZE);
  fileSha = sha256(file);
  writeFileSync(join(nginx.root, 'big.bin'), file);
  const upload = randomBytes(UPLOAD_SIZE);
  uploadSha = sha256(upload);
  uploadFile = join(dir, 'upload.bin');
  writeFileSync(uploadFile, upload);
  echo = await startEcho(echoPort);
});

afterAll(async () => {
  await nginx?.stop();
  if (echo) {
    const closed = new Promise<void>((r) => echo.close(() => r()));
    echo.closeAllConnections();
    await closed;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe.each(['uws', 'http1-strict'])('codec: %s', (codec) => {
  let pillion: PillionProcess;
  let base: string;

  beforeAll(async () => {
    const [listen, admin] = await freePorts(2);
    base = `http://127.0.0.1:${listen}`;
    const config = simpleConfig({ listen: listen!, admin: admin!, upstreams: [nginx.port], listener: { codec } });
    // Uploads go to the Node echo upstream (nginx cannot echo a body without extra modules).
    config.listeners[0]!.routes.unshift({ match: { prefix: '/upload' }, cluster: 'echo' });
    config.clusters.push({ name: 'echo', endpoints: [{ address: '127.0.0.1', port: echoPort }] });
    pillion = await startPillion(config);
  });

  afterAll(async () => {
    await pillion?.stop();
  });

  it('GET a static file of a few MiB: 200, byte-exact', async () => {
    const o = out('get');
    const r = ok(await curl(['-o', o, '-w', '%{http_code} %{size_download}', `${base}/big.bin`]));
    expect(r.stdout).toBe(`200 ${FILE_SIZE}`);
    expect(sha256(readFileSync(o))).toBe(fileSha);
  });

  it('HEAD: 200, Content-Length is the file size, no body', async () => {
    const h = out('head');
    const r = ok(await curl(['-I', '-o', h, '-w', '%{http_code} %{size_download}', `${base}/big.bin`]));
    expect(r.stdout).toBe('200 0');
    const head = readFileSync(h, 'latin1');
    expect(head).toMatch(/^HTTP\/1\.1 200 /);
    expect(head).toMatch(new RegExp(`\\r\\ncontent-length: ${FILE_SIZE}\\r\\n`, 'i'));
  });

  // Regression (uws): uWS's endWithoutBody(length) left a HEAD's response pending, so the next request
  // on the keep-alive connection closed it (curl -v: "Connection died, retrying a fresh connect").
  it('after a HEAD, a GET on the same connection (curl --next) reuses it and is byte-exact', async () => {
    const o = out('after-head');
    const r = ok(
      await curl([
        '-I', '-o', '/dev/null', '-w', '%{http_code} %{num_connects}\n', `${base}/big.bin`,
        '--next', '--noproxy', '*', '--max-time', '20', '-o', o, '-w', '%{http_code} %{size_download} %{num_connects}\n', `${base}/big.bin`,
      ]),
    );
    expect(sha256(readFileSync(o))).toBe(fileSha);
    expect(r.stdout).toBe(`200 1\n200 ${FILE_SIZE} 0\n`);
  });

  if (codec === 'uws') {
    // Documented limitation of the uWS build (docs/http1-limits.md): it answers no HTTP/1.0 request
    // and closes the connection only at its ~10 s idle sweep. So: no byte within 2 s (a bound for a
    // non-event, not a guessed wait for something to happen).
    it('--http1.0 GET: no reply at all (uWS does not serve HTTP/1.0; use codec http1-strict)', async () => {
      const o = out('http10');
      const r = await curl(['--http1.0', '--max-time', '2', '-o', o, '-w', '%{http_code} %{size_header} %{size_download}', `${base}/big.bin`]);
      expect([28, 52]).toContain(r.code); // 28: our 2 s bound; 52: closed with nothing sent
      expect(r.stdout).toBe('000 0 0');
    });
  } else {
    it('--http1.0 GET: 200 and the body is complete', async () => {
      const o = out('http10');
      // The response may be HTTP/1.1 (RFC 9110 2.5: a server sends its own highest version).
      const r = ok(await curl(['--http1.0', '-o', o, '-w', '%{http_code} %{size_download}', `${base}/big.bin`]));
      expect(r.stdout).toBe(`200 ${FILE_SIZE}`);
      expect(sha256(readFileSync(o))).toBe(fileSha);
    });
  }

  it('nginx sees the request line and x-forwarded-for', async () => {
    const r = ok(await curl(['-w', '%{http_code}', `${base}/echo/a%20b?x=1&y=2`]));
    expect(r.stdout).toBe('127.0.0.1 GET /echo/a%20b?x=1&y=2\n200');
  });

  it('POST --data-binary @file of a few MiB: echoed byte-exact (Content-Length)', async () => {
    const o = out('post');
    const d = out('post-headers');
    const r = ok(await curl(['--data-binary', `@${uploadFile}`, '-H', 'Content-Type: application/octet-stream', '-D', d, '-o', o, '-w', '%{http_code} %{size_download}', `${base}/upload`]));
    expect(r.stdout).toBe(`200 ${UPLOAD_SIZE}`);
    expect(sha256(readFileSync(o))).toBe(uploadSha);
    const heads = readFileSync(d, 'latin1').toLowerCase();
    expect(heads).toContain(`\r\nx-seen-bytes: ${UPLOAD_SIZE}\r\n`);
    expect(heads).toContain(`\r\nx-seen-content-length: ${UPLOAD_SIZE}\r\n`);
  });

  it('POST --data-binary @file with Transfer-Encoding: chunked: echoed byte-exact', async () => {
    const o = out('post-chunked');
    const d = out('post-chunked-headers');
    const r = ok(
      await curl(['--data-binary', `@${uploadFile}`, '-H', 'Content-Type: application/octet-stream', '-H', 'Transfer-Encoding: chunked', '-D', d, '-o', o, '-w', '%{http_code} %{size_download}', `${base}/upload`]),
    );
    expect(r.stdout).toBe(`200 ${UPLOAD_SIZE}`);
    expect(sha256(readFileSync(o))).toBe(uploadSha);
    const heads = readFileSync(d, 'latin1').toLowerCase();
    expect(heads).toContain(`\r\nx-seen-bytes: ${UPLOAD_SIZE}\r\n`);
    expect(heads).toContain('\r\nx-seen-transfer-encoding: chunked\r\n');
  });

  it("nginx's 404 is relayed as 404", async () => {
    const o = out('404');
    const r = ok(await curl(['-o', o, '-w', '%{http_code}', `${base}/no-such-file`]));
    expect(r.stdout).toBe('404');
    expect(readFileSync(o, 'utf8')).toMatch(/404 Not Found[\s\S]*nginx/);
  });

  it('two differing Content-Length fields: 400 from Pillion, never forwarded', async () => {
    const d = out('400-headers');
    const o = out('400');
    const before = echoRequests;
    const r = ok(await curl(['-H', 'Content-Length: 5', '-H', 'Content-Length: 6', '--data-binary', 'hello', '-D', d, '-o', o, '-w', '%{http_code}', `${base}/upload`]));
    expect(r.stdout).toBe('400');
    expect(readFileSync(d, 'latin1')).toMatch(/\r\nserver: pillion\r\n/i);
    expect(readFileSync(o, 'utf8')).toMatch(/bad request/i);
    expect(echoRequests).toBe(before);
  });

  it('--next: the second URL reuses the first connection', async () => {
    const r = ok(
      await curl([
        '-o', '/dev/null', '-w', '%{http_code} %{num_connects}\n', `${base}/echo/one`,
        '--next', '--noproxy', '*', '--max-time', '20', '-o', '/dev/null', '-w', '%{http_code} %{num_connects}\n', `${base}/big.bin`,
      ]),
    );
    expect(r.stdout).toBe('200 1\n200 0\n');
  });
});
