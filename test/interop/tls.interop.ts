/**
 * TLS and mutual TLS between Pillion and real programs, with certificates made in the test
 * (test/helpers/certs.ts) and written to a temporary directory. One Pillion with two workers:
 *
 * - `openssl s_client` against an HTTP listener with `tls`: the certificate chosen by SNI (read back
 *   with `openssl x509`), `-tls1_2` refused by `min_version: TLSv1.3`, client certificates required
 *   (none, or one from another CA: refused; a valid one: an HTTP request through s_client gets 200),
 *   and session resumption with `-sess_out` / `-sess_in` on whichever worker accepts.
 * - `curl` against the same listeners: `--cacert`, mutual TLS with `--cert` / `--key` (nginx behind
 *   Pillion sees `x-forwarded-client-cert` with the client's SPIFFE URI, `forward_client_cert:
 *   sanitize_set`), a host name the certificate does not cover, TLS 1.2 against `min_version: TLSv1.3`.
 * - nginx as an upstream with TLS and `ssl_verify_client on`: a cluster with `tls` and a client
 *   certificate reaches it (nginx reports SUCCESS and the certificate's subject); without a client
 *   certificate, or with one from another CA, nginx completes the handshake and answers 400 itself,
 *   which Pillion relays; `allowed_sans` that do not match nginx's certificate make Pillion refuse it
 *   (503 naming the reason).
 * - A tcp listener with `tls_passthrough`: `openssl s_client` reaches nginx or `openssl s_server` by
 *   its SNI and sees the upstream's own certificate (Pillion has none for those names).
 *
 * Run with `pnpm test:interop`; needs the Debian packages curl, nginx and openssl (see ./programs.ts).
 */
import { execFile } from 'node:child_process';
import { X509Certificate, createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, writePem, type Pem } from '../helpers/certs.js';
import { metric, metricSum, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait-for.js';
import { startNginx, type Nginx } from './nginx.js';
import { describeCertificate, httpRequest, httpResponse, sClient, serverCertificate, startSServer, type RunResult, type SServer } from './openssl.js';
import { requirePrograms } from './programs.js';

const bins = requirePrograms();

const PROXY = 'spiffe://cluster.local/ns/default/sa/pillion';
const WEB = 'spiffe://cluster.local/ns/default/sa/web';
const NGINX = 'spiffe://cluster.local/ns/default/sa/nginx';

type Files = { cert_file: string; key_file: string };

let dir: string;
let caFile: string;
let pillion: PillionProcess;
let plainNginx: Nginx;
let mtlsNginx: Nginx;
let nginxA: Nginx;
let sServerB: SServer;
let pems: Record<'web' | 'rogueWeb' | 'a' | 'b', Pem>;
let files: Record<'web' | 'rogueWeb', Files>;
let ports: { web: number; modern: number; mtls: number; out: number; egress: number };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pillion-interop-tls-'));
  const certs = join(dir, 'certs');
  const pki = await createPki();
  caFile = join(certs, 'ca.pem');
  mkdirSync(certs, { recursive: true });
  writeFileSync(caFile, pki.ca.cert);
  const leaf = async (name: string, o: Parameters<typeof pki.leaf>[0]) => {
    const pem = await pki.leaf(o);
    return { pem, files: writePem(certs, name, pem) };
  };
  const fallback = await leaf('default', { cn: 'default.test', dns: ['default.test'], uris: [PROXY], usage: 'server' });
  const api = await leaf('api', { cn: 'api.example.com', dns: ['api.example.com'], usage: 'server' });
  const wildcard = await leaf('apps', { cn: 'apps.example.com', dns: ['*.apps.example.com'], usage: 'server' });
  const web = await leaf('web', { cn: 'web', uris: [WEB], usage: 'client' });
  const rogueWeb = await leaf('rogue-web', { cn: 'web', uris: [WEB], usage: 'client', issuer: 'rogue' });
  const proxyClient = await leaf('pillion-client', { cn: 'pillion', uris: [PROXY], usage: 'client' });
  const nginxServer = await leaf('nginx', { cn: 'nginx.internal', dns: ['nginx.internal'], uris: [NGINX], usage: 'server' });
  const a = await leaf('a', { cn: 'a.example', dns: ['a.example'], usage: 'server' });
  const b = await leaf('b', { cn: 'b.example', dns: ['b.example'], usage: 'server' });
  pems = { web: web.pem, rogueWeb: rogueWeb.pem, a: a.pem, b: b.pem };
  files = { web: web.files, rogueWeb: rogueWeb.files };

  const [pPlain, pMtls, pA, pB, web_, modern, mtls, out, egress, admin] = await freePorts(10);
  ports = { web: web_!, modern: modern!, mtls: mtls!, out: out!, egress: egress! };
  plainNginx = await startNginx(bins.nginx, join(dir, 'nginx-plain'), pPlain!);
  mtlsNginx = await startNginx(bins.nginx, join(dir, 'nginx-mtls'), pMtls!, { tls: { ...nginxServer.files, client_ca_file: caFile } });
  nginxA = await startNginx(bins.nginx, join(dir, 'nginx-a'), pA!, { tls: a.files });
  sServerB = await startSServer(bins.openssl, pB!, b.files);

  const toPlain = [{ match: { prefix: '/' }, cluster: 'plain' }];
  // One connect attempt per request: a refusal is answered as it is, not retried.
  const via = (name: string) => ({ match: { prefix: `/${name}/` }, prefix_rewrite: '/', cluster: name, retry: { attempts: 0 } });
  const endpoint = (port: number) => [{ address: '127.0.0.1', port }];
  pillion = await startPillion({
    workers: 2,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [
      {
        name: 'web',
        protocol: 'http',
        port: ports.web,
        routes: toPlain,
        tls: {
          certificates: [fallback.files, { ...api.files, server_names: ['api.example.com'] }, { ...wildcard.files, server_names: ['*.apps.example.com'] }],
        },
      },
      { name: 'modern', protocol: 'http', port: ports.modern, routes: toPlain, tls: { certificates: [fallback.files], min_version: 'TLSv1.3' } },
      {
        name: 'mtls',
        protocol: 'http',
        port: ports.mtls,
        routes: toPlain,
        tls: {
          certificates: [fallback.files],
          client_certificate: { ca_file: caFile, allowed_sans: ['spiffe://cluster.local/ns/default/*'] },
          forward_client_cert: 'sanitize_set',
        },
      },
      { name: 'out', protocol: 'http', port: ports.out, routes: ['mtls', 'by-san', 'no-cert', 'rogue-cert', 'wrong-san'].map(via) },
      {
        name: 'egress',
        protocol: 'tcp',
        port: ports.egress,
        tls_passthrough: {
          routes: [
            { server_names: ['a.example'], cluster: 'pt-a' },
            { server_names: ['b.example'], cluster: 'pt-b' },
          ],
        },
      },
    ],
    clusters: [
      { name: 'plain', endpoints: endpoint(pPlain!) },
      { name: 'mtls', endpoints: endpoint(pMtls!), tls: { ca_file: caFile, sni: 'nginx.internal', ...proxyClient.files } },
      { name: 'by-san', endpoints: endpoint(pMtls!), tls: { ca_file: caFile, allowed_sans: ['spiffe://cluster.local/ns/default/sa/nginx'], ...proxyClient.files } },
      { name: 'no-cert', endpoints: endpoint(pMtls!), tls: { ca_file: caFile, sni: 'nginx.internal' } },
      { name: 'rogue-cert', endpoints: endpoint(pMtls!), tls: { ca_file: caFile, sni: 'nginx.internal', ...rogueWeb.files } },
      { name: 'wrong-san', endpoints: endpoint(pMtls!), tls: { ca_file: caFile, allowed_sans: ['spiffe://cluster.local/ns/default/sa/db'], ...proxyClient.files } },
      { name: 'pt-a', endpoints: endpoint(pA!) },
      { name: 'pt-b', endpoints: endpoint(pB!) },
    ],
  });
});

afterAll(async () => {
  await pillion?.stop();
  await Promise.all([plainNginx?.stop(), mtlsNginx?.stop(), nginxA?.stop(), sServerB?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
const handshakeFailures = async (listener: string, reason: string) => metric(await pillion.metrics(), 'pillion_tls_handshake_failures_total', { listener, reason }) ?? 0;

interface CurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs curl (no ~/.curlrc, no proxy from the environment, a deadline); never rejects. */
function curl(args: string[]): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile(bins.curl, ['-q', '-sS', '--noproxy', '*', '--max-time', '15', ...args], (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** curl to https://HOST:PORT/PATH with HOST resolved to 127.0.0.1, trusting the test CA; prints the response head and body. */
function curlTls(host: string, port: number, path: string, args: string[] = []): Promise<CurlResult> {
  return curl(['--cacert', caFile, '--resolve', `${host}:${port}:127.0.0.1`, '-i', ...args, `https://${host}:${port}${path}`]);
}

describe('openssl s_client against an HTTP listener with tls', () => {
  it.each([
    ['api.example.com', 'api.example.com', 'DNS:api.example.com'],
    ['shop.apps.example.com', 'apps.example.com', 'DNS:*.apps.example.com'],
    ['other.example', 'default.test', `DNS:default.test, URI:${PROXY}`],
  ])('-servername %s: the certificate for %s, verified against the CA', async (servername, cn, sans) => {
    const r = await sClient(bins.openssl, { port: ports.web, servername, caFile, input: httpRequest(servername, '/headers') });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Verify return code: 0 \(ok\)$/m);
    expect(r.stdout).toMatch(new RegExp(`^subject=CN = ${cn.replace(/\./g, '\\.')}$`, 'm'));
    const described = await describeCertificate(bins.openssl, serverCertificate(r.stdout));
    expect(described).toBe(`subject=CN = ${cn}\nX509v3 Subject Alternative Name: \n    ${sans}\n`);
    expect(httpResponse(r.stdout)).toMatch(/^HTTP\/1\.1 200 [\s\S]*\r\n\r\nxfcc= proto=https\n$/);
  });

  it('-tls1_2 against min_version TLSv1.3 fails the handshake; -tls1_3 is served', async () => {
    const before = await handshakeFailures('modern', 'handshake');
    const old = await sClient(bins.openssl, { port: ports.modern, servername: 'default.test', caFile, args: ['-tls1_2'], input: httpRequest('default.test') });
    expect(old.code).toBe(1);
    expect(old.stderr).toMatch(/alert protocol version/);
    expect(httpResponse(old.stdout)).toBe('');
    await waitFor(async () => (await handshakeFailures('modern', 'handshake')) === before + 1, { message: 'the refused TLS 1.2 handshake to be counted' });

    const modern = await sClient(bins.openssl, { port: ports.modern, servername: 'default.test', caFile, args: ['-tls1_3'], input: httpRequest('default.test', '/headers') });
    expect(modern.code, modern.stderr).toBe(0);
    expect(modern.stdout).toMatch(/^New, TLSv1\.3, Cipher is /m);
    expect(httpResponse(modern.stdout)).toMatch(/^HTTP\/1\.1 200 /);
  });

  describe('client certificates required', () => {
    /**
     * With TLS 1.3 s_client's handshake is done before the server has checked the client certificate;
     * Pillion then closes the connection without an alert and without reading the request. s_client
     * sees the end of the stream (exit 1) or, when its request reached the server before the close, a
     * reset (it exits with errno 104, ECONNRESET).
     */
    const expectClosedUnanswered = (r: RunResult) => {
      expect(r.stdout).toMatch(/^New, TLSv1\.3, Cipher is /m); // the handshake itself completed
      expect(httpResponse(r.stdout)).toBe('');
      expect([1, 104]).toContain(r.code);
      expect(r.stderr).toMatch(/unexpected eof while reading|read:errno=104/);
      expect(r.stderr).not.toMatch(/alert/);
    };

    it('without -cert: closed without an HTTP response, counted as no_client_certificate', async () => {
      const before = await handshakeFailures('mtls', 'no_client_certificate');
      const r = await sClient(bins.openssl, { port: ports.mtls, servername: 'default.test', caFile, input: httpRequest('default.test', '/headers') });
      expectClosedUnanswered(r);
      await waitFor(async () => (await handshakeFailures('mtls', 'no_client_certificate')) === before + 1, { message: 'the refusal to be counted' });
    });

    it('with a certificate from another CA: closed without an HTTP response, counted as client_certificate_invalid', async () => {
      const before = await handshakeFailures('mtls', 'client_certificate_invalid');
      const r = await sClient(bins.openssl, { port: ports.mtls, servername: 'default.test', caFile, cert: files.rogueWeb, input: httpRequest('default.test', '/headers') });
      expectClosedUnanswered(r);
      await waitFor(async () => (await handshakeFailures('mtls', 'client_certificate_invalid')) === before + 1, { message: 'the refusal to be counted' });
    });

    it('with a valid certificate: an HTTP request written through s_client gets 200', async () => {
      const r = await sClient(bins.openssl, { port: ports.mtls, servername: 'default.test', caFile, cert: files.web, input: httpRequest('default.test', '/headers') });
      expect(r.code, r.stderr).toBe(0);
      const response = httpResponse(r.stdout);
      expect(response).toMatch(/^HTTP\/1\.1 200 /);
      expect(response).toContain(`;URI=${WEB} proto=https\n`);
    });
  });

  it('session resumption: after -sess_out, every -sess_in reconnect is Reused, on either worker', async () => {
    const session = join(dir, 'session.pem');
    const connections = 16;
    const m0 = await pillion.metrics();
    const workerRequests = (m: string, worker: string) => metric(m, 'pillion_worker_requests_total', { worker }) ?? 0;
    const seen: string[] = [];
    for (let i = 0; i < connections; i++) {
      const args = i === 0 ? ['-sess_out', session] : ['-sess_in', session];
      const r = await sClient(bins.openssl, { port: ports.web, servername: 'api.example.com', caFile, args, input: httpRequest('api.example.com', '/headers') });
      expect(r.code, r.stderr).toBe(0);
      expect(httpResponse(r.stdout)).toMatch(/^HTTP\/1\.1 200 /);
      seen.push(/^(New|Reused), TLSv1\.3, /m.exec(r.stdout)?.[1] ?? `neither: ${r.stdout}`);
    }
    expect(seen).toEqual(['New', ...Array<string>(connections - 1).fill('Reused')]);
    const m1 = await pillion.metrics();
    const resumed = (m: string) => metric(m, 'pillion_tls_sessions_resumed_total', { listener: 'web' }) ?? 0;
    expect(resumed(m1) - resumed(m0)).toBe(connections - 1);
    // Both workers took some of these connections, so tickets one issued were resumed by the other.
    expect(workerRequests(m1, '0')).toBeGreaterThan(workerRequests(m0, '0'));
    expect(workerRequests(m1, '1')).toBeGreaterThan(workerRequests(m0, '1'));
  });
});

describe('curl against an HTTP listener with tls', () => {
  // curl offers h2 first by ALPN, and the listener's default tls.alpn serves it.
  it('--cacert: 200, the certificate verified for the name', async () => {
    const r = await curlTls('api.example.com', ports.web, '/headers', ['-w', '%{ssl_verify_result}']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/2 200 [\s\S]*\r\n\r\nxfcc= proto=https\n0$/);
  });

  it('--cert/--key: 200, and nginx upstream sees x-forwarded-client-cert with the client SPIFFE URI (sanitize_set)', async () => {
    const hash = createHash('sha256').update(new X509Certificate(pems.web.cert).raw).digest('hex');
    // A header the client sends itself is replaced, never passed on.
    const r = await curlTls('default.test', ports.mtls, '/headers', ['--cert', files.web.cert_file, '--key', files.web.key_file, '-H', 'x-forwarded-client-cert: By=spiffe://evil.example/sa/x;Hash=00']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/2 200 /);
    expect(r.stdout.split('\r\n\r\n')[1]).toBe(`xfcc=By=${PROXY};Hash=${hash};Subject="CN=web";URI=${WEB} proto=https\n`);
  });

  it.each([
    ['without --cert', (): string[] => []],
    ['--cert/--key from another CA', (): string[] => ['--cert', files.rogueWeb.cert_file, '--key', files.rogueWeb.key_file]],
  ])('%s: closed without a response (empty reply or reset)', async (_what, args) => {
    const r = await curlTls('default.test', ports.mtls, '/headers', args());
    // 52: "Empty reply from server" (closed before the request was read); 56: reset with the request
    // unread; 55: the close came while curl was still sending (over h2, its connection preface);
    // 18: over h2, curl had sent its request and saw the connection end before stream 1 did.
    expect([18, 52, 55, 56], r.stderr).toContain(r.code);
    if (r.code === 18) expect(r.stderr).toContain('HTTP/2 stream 1 was not closed cleanly');
    expect(r.stdout).toBe('');
  });

  it('a --resolve host name the certificate does not cover fails verification', async () => {
    const r = await curlTls('wrong.example', ports.web, '/headers');
    expect(r.code).toBe(60);
    expect(r.stderr).toContain("no alternative certificate subject name matches target host name 'wrong.example'");
    expect(r.stdout).toBe('');
  });

  it('--tlsv1.2 --tls-max 1.2 is refused by min_version TLSv1.3', async () => {
    const r = await curlTls('default.test', ports.modern, '/headers', ['--tlsv1.2', '--tls-max', '1.2']);
    expect(r.code).toBe(35);
    expect(r.stderr).toMatch(/alert protocol version/);
    expect(r.stdout).toBe('');
    const ok = await curlTls('default.test', ports.modern, '/headers', ['--tlsv1.3']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^HTTP\/2 200 /);
  });
});

describe('a cluster with tls to nginx that requires client certificates (ssl_verify_client on)', () => {
  const get = (path: string) => curl(['-i', `http://127.0.0.1:${ports.out}${path}`]);

  it('with cert_file/key_file and ca_file: 200, nginx verified the client certificate', async () => {
    const r = await get('/mtls/tls');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200 /);
    expect(r.stdout).toMatch(/\r\nx-client-verify: SUCCESS\r\n/i);
    expect(r.stdout).toMatch(/\r\nx-client-dn: CN=pillion\r\n/i);
    expect(r.stdout.split('\r\n\r\n')[1]).toBe('verify=SUCCESS dn=CN=pillion sni=nginx.internal protocol=TLSv1.3\n');
  });

  it('verified by allowed_sans (the SPIFFE URI of nginx certificate): 200', async () => {
    const r = await get('/by-san/tls');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200 /);
    expect(r.stdout).toMatch(/\r\nx-client-verify: SUCCESS\r\n/i);
  });

  // nginx's `ssl_verify_client on` does not fail the handshake: it answers the request itself with
  // 400, which Pillion relays as it is (it is an HTTP response, not a connect failure).
  it('without cert_file: nginx answers 400 "No required SSL certificate was sent", relayed', async () => {
    const r = await get('/no-cert/tls');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(r.stdout).toMatch(/\r\nserver: nginx\//i);
    expect(r.stdout).toContain('<head><title>400 No required SSL certificate was sent</title></head>');
  });

  it('with a client certificate from another CA: nginx answers 400 "The SSL certificate error", relayed', async () => {
    const r = await get('/rogue-cert/tls');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(r.stdout).toContain('<head><title>400 The SSL certificate error</title></head>');
  });

  it('allowed_sans that nginx certificate does not match: 503 naming allowed_sans, counted as a handshake failure', async () => {
    const r = await get('/wrong-san/tls');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 503 /);
    expect(r.stdout.split('\r\n\r\n')[1]).toBe(
      `no healthy upstream: upstream connect failure: tls: upstream certificate SANs (DNS:nginx.internal, URI:${NGINX}) match none of allowed_sans\n`,
    );
    expect(metricSum(await pillion.metrics(), 'pillion_upstream_tls_handshake_failures_total', { cluster: 'wrong-san' })).toBe(1);
  });
});

describe('tls_passthrough on a tcp listener', () => {
  it('-servername a.example reaches nginx, whose own certificate s_client verifies', async () => {
    const r = await sClient(bins.openssl, { port: ports.egress, servername: 'a.example', caFile, args: ['-verify_hostname', 'a.example'], input: httpRequest('a.example', '/tls') });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Verify return code: 0 \(ok\)$/m);
    expect(r.stdout).toMatch(/^subject=CN = a\.example$/m);
    expect(fingerprint(serverCertificate(r.stdout))).toBe(fingerprint(pems.a.cert));
    // nginx terminated this TLS session: it saw the client's SNI.
    expect(httpResponse(r.stdout)).toMatch(/^HTTP\/1\.1 200 [\s\S]*\r\n\r\nverify=NONE dn= sni=a\.example protocol=TLSv1\.3\n$/);
  });

  it('-servername b.example reaches openssl s_server, with its own certificate', async () => {
    const r = await sClient(bins.openssl, { port: ports.egress, servername: 'b.example', caFile, args: ['-verify_hostname', 'b.example'], input: 'GET / HTTP/1.0\r\n\r\n' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^subject=CN = b\.example$/m);
    expect(fingerprint(serverCertificate(r.stdout))).toBe(fingerprint(pems.b.cert));
    expect(httpResponse(r.stdout)).toMatch(/^HTTP\/1\.0 200 ok\r\n[\s\S]*s_server -accept /);
  });
});
