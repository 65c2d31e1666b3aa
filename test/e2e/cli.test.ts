/** The command line as operators use it: validate, bad configs, overrides. */
import { createConnection } from 'node:net';
import { expect, it } from 'vitest';
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
