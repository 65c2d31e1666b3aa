/**
 * TLS listener certificates and sessions at run time, with two workers: a client resumes its session
 * on every new connection, whichever worker accepts it (the session ticket keys are shared);
 * replacing the certificate and key files under steady load makes new handshakes present the new
 * certificate within seconds, with no failed request and no dropped connection; a broken replacement
 * is refused, counted, and the running certificate stays.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, writePem, type TestPki } from '../helpers/certs.js';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { commonName, httpsGet } from '../helpers/tls-client.js';
import { waitFor } from '../helpers/wait-for.js';

let pillion: PillionProcess;
let upstream: Server;
let pki: TestPki;
let dir: string;
let port: number;

beforeAll(async () => {
  pki = await createPki();
  dir = mkdtempSync(join(tmpdir(), 'pillion-tls-rotation-'));
  const files = writePem(dir, 'server', await pki.leaf({ cn: 'first.test', dns: ['localhost'], usage: 'server' }));
  const [up, listen, admin] = await freePorts(3);
  port = listen!;
  upstream = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => upstream.listen(up, '127.0.0.1', () => r()));
  pillion = await startPillion({
    workers: 2,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [{ name: 'web', protocol: 'http', port, tls: { certificates: [files] }, routes: [{ match: { prefix: '/' }, cluster: 'up' }] }],
    clusters: [{ name: 'up', endpoints: [{ address: '127.0.0.1', port: up }] }],
  });
});

afterAll(async () => {
  await pillion?.stop();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

const get = (session?: Buffer) => httpsGet(port, { servername: 'localhost', ca: pki.ca.cert, session });

describe('session resumption across workers', () => {
  it('every connection after the first resumes, on either worker', async () => {
    const n = 16;
    let session: Buffer | undefined;
    const reused: boolean[] = [];
    for (let i = 0; i < n; i++) {
      const r = await get(session);
      expect(r.status).toBe(200);
      reused.push(r.reused);
      // A resumed TLS 1.3 connection may bring no new ticket: the last one received is used again.
      session = r.session ?? session;
      expect(session).toBeDefined();
    }
    expect(reused).toEqual([false, ...Array<boolean>(n - 1).fill(true)]);
    const text = await pillion.metrics();
    expect(metric(text, 'pillion_tls_handshakes_total', { listener: 'web' })).toBe(n);
    expect(metric(text, 'pillion_tls_sessions_resumed_total', { listener: 'web' })).toBe(n - 1);
    // Both workers took connections: somewhere in the sequence one resumed a ticket the other issued.
    expect(metric(text, 'pillion_worker_requests_total', { worker: '0' })).toBeGreaterThan(0);
    expect(metric(text, 'pillion_worker_requests_total', { worker: '1' })).toBeGreaterThan(0);
  });
});

/** Opens a keep-alive TLS connection and returns a function that sends one request on it. */
async function keptConnection(): Promise<{ socket: TLSSocket; get(): Promise<string> }> {
  const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: pki.ca.cert });
  await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
  return {
    socket,
    get: () =>
      new Promise((resolve, reject) => {
        let data = '';
        const onData = (d: Buffer) => {
          data += d.toString('latin1');
          if (/\r\n\r\nok$/.test(data)) {
            socket.off('data', onData);
            resolve(data);
          }
        };
        socket.on('data', onData);
        socket.once('error', reject);
        socket.write('GET /kept HTTP/1.1\r\nhost: localhost\r\n\r\n');
      }),
  };
}

describe('certificate rotation', () => {
  it('new handshakes present a replaced certificate within seconds; no request fails, open connections stay', async () => {
    const reloads = async (result: string) => metric(await pillion.metrics(), 'pillion_tls_certificate_reloads_total', { result }) ?? 0;
    expect(commonName((await get()).peer)).toBe('first.test');
    const kept = await keptConnection();
    expect(await kept.get()).toMatch(/^HTTP\/1\.1 200 /);

    // Steady load: keep-alive connections, and a new connection (a new handshake) after another.
    let stop = false;
    const errors: string[] = [];
    let pooled = 0;
    const seen = new Set<string>();
    const agent = new Agent({ connections: 4, connect: { ca: pki.ca.cert, servername: 'localhost' } });
    const keepAlive = async () => {
      while (!stop) {
        try {
          const r = await request(`https://127.0.0.1:${port}/load`, { dispatcher: agent });
          await r.body.text();
          if (r.statusCode === 200) pooled++;
          else errors.push(`status ${r.statusCode}`);
        } catch (e) {
          errors.push(`keep-alive: ${(e as Error).message}`);
        }
      }
    };
    const handshakes = async () => {
      while (!stop) {
        try {
          seen.add(commonName((await get()).peer));
        } catch (e) {
          errors.push(`new connection: ${(e as Error).message}`);
        }
      }
    };
    const load = [keepAlive(), keepAlive(), handshakes()];
    try {
      await waitFor(() => pooled > 50, { message: 'the load to start', timeoutMs: 10_000 });
      const successes = await reloads('success');
      const next = await pki.leaf({ cn: 'second.test', dns: ['localhost'], usage: 'server' });
      writeFileSync(join(dir, 'server.key'), next.key);
      writeFileSync(join(dir, 'server.pem'), next.cert);
      await waitFor(() => seen.has('second.test'), { message: 'a new handshake to present the new certificate', timeoutMs: 10_000 });
      expect(await reloads('success')).toBeGreaterThan(successes);
      const atSwap = pooled;
      await waitFor(() => pooled > atSwap + 50, { message: 'the load to go on after the swap', timeoutMs: 10_000 });
    } finally {
      stop = true;
      await Promise.all(load);
      await agent.close();
    }
    expect(errors).toEqual([]);
    expect(seen).toEqual(new Set(['first.test', 'second.test']));
    // The connection opened before the swap is still up, still with the certificate it was opened with.
    expect(await kept.get()).toMatch(/^HTTP\/1\.1 200 /);
    expect(commonName(kept.socket.getPeerX509Certificate()!)).toBe('first.test');
    kept.socket.destroy();
    expect(commonName((await get()).peer)).toBe('second.test');
  });

  it('a broken replacement is refused and counted; the running certificate stays', async () => {
    const failures = async () => metric(await pillion.metrics(), 'pillion_tls_certificate_reloads_total', { result: 'failure' }) ?? 0;
    const before = await failures();
    writeFileSync(join(dir, 'server.pem'), '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
    await waitFor(async () => (await failures()) > before, { message: 'the broken file to be refused', timeoutMs: 10_000 });
    expect(pillion.output()).toMatch(/TLS reload refused; the running certificates were kept/);
    const r = await get();
    expect(r.status).toBe(200);
    expect(commonName(r.peer)).toBe('second.test');
  });
});
