/** The command line as operators use it: validate, bad configs, overrides. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createPki, writePem } from '../helpers/certs.js';
import { freePorts } from '../helpers/ports.js';
import { runCli, writeConfig } from '../helpers/pillion.js';

const good = (listen: number, admin: number) => ({
  admin: { port: admin },
  listeners: [{ name: 'web', protocol: 'http', port: listen, routes: [{ match: { prefix: '/' }, cluster: 'c' }] }],
  clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: 1 }] }],
});

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(port, '127.0.0.1');
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
  });
}

it('validate accepts a good file', async () => {
  const file = writeConfig(good(8080, 9901));
  const r = await runCli(['validate', file]);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(': ok');
});

it('validate lists every problem with its path and exits non-zero', async () => {
  const c: any = good(8080, 9901);
  c.workers = -2;
  c.clusters[0].lb = { policy: 'fastest' };
  c.listeners[0].routes[0].cluster = 'missing';
  c.listeners[0].extra = 1;
  const r = await runCli(['validate', writeConfig(c)]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('4 problems');
  expect(r.stderr).toContain('workers: must be >= 1');
  expect(r.stderr).toContain('clusters[0].lb.policy: must be one of round-robin, random, least-request, ring-hash, maglev');
  expect(r.stderr).toContain('listeners[0].routes[0].cluster: unknown cluster "missing"');
  expect(r.stderr).toContain('listeners[0].extra: unknown field');
});

it('refuses to start on a bad config and opens no port', async () => {
  const [listen, admin] = await freePorts(2);
  const c: any = good(listen!, admin!);
  c.clusters[0].connect_timeout = 'soon';
  const r = await runCli(['--config', writeConfig(c)]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('clusters[0].connect_timeout: must be a duration');
  expect(await portOpen(listen!)).toBe(false);
  expect(await portOpen(admin!)).toBe(false);
});

it('reports a missing file', async () => {
  const r = await runCli(['validate', '/nonexistent/pillion.yaml']);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('cannot read /nonexistent/pillion.yaml');
});

it('checks --workers and --log-level overrides', async () => {
  const [listen, admin] = await freePorts(2);
  const r = await runCli(['--config', writeConfig(good(listen!, admin!)), '--workers', 'x', '--log-level', 'chatty']);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('--workers: must be "auto" or an integer from 1 to 256');
  expect(r.stderr).toContain('--log-level: must be one of');
});

it('prints usage for unknown arguments', async () => {
  const r = await runCli(['--bogus']);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('usage:');
});

it('validates the bundled demo config', async () => {
  const r = await runCli(['validate', new URL('../../examples/demo.yaml', import.meta.url).pathname]);
  expect(r.code).toBe(0);
});

it('validate reads every TLS file: missing files, a key that does not match, and relative paths from the config file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-validate-tls-'));
  const pki = await createPki();
  writePem(dir, 'server', await pki.leaf({ dns: ['api.example.com'] }));
  const other = await pki.leaf({ dns: ['other.example.com'] });
  writeFileSync(join(dir, 'other.key'), other.key);
  writeFileSync(join(dir, 'ca.pem'), pki.ca.cert);
  const tls = (key: string) => ({
    certificates: [{ cert_file: 'server.pem', key_file: key }],
    client_certificate: { ca_file: 'ca.pem' },
  });
  const c: any = good(8080, 9901);
  c.listeners[0].tls = tls('server.key');
  const file = join(dir, 'pillion.json');
  writeFileSync(file, JSON.stringify(c));
  const ok = await runCli(['validate', file]);
  expect(ok.stderr).toBe('');
  expect(ok.code).toBe(0);

  c.listeners[0].tls = tls('other.key');
  c.clusters[0].tls = { ca_file: 'missing-ca.pem' };
  writeFileSync(file, JSON.stringify(c));
  const bad = await runCli(['validate', file]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain('2 problems');
  expect(bad.stderr).toContain(`listeners[0].tls.certificates[0].key_file: the key in ${join(dir, 'other.key')} does not match the certificate in ${join(dir, 'server.pem')}`);
  expect(bad.stderr).toContain(`clusters[0].tls.ca_file: cannot read ${join(dir, 'missing-ca.pem')}: ENOENT`);
});
