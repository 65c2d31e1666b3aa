/**
 * The supervisor's TLS files: read and checked once per build, session ticket keys kept until their
 * rotation is due (on an injected clock), expiry reported, and watched files reported when they change.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig, type Config } from '@pillion/core';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { TlsRegistry } from '../src/supervisor/tls-registry.js';
import { createPki, writePem, type Pem, type TestPki } from '../../../test/helpers/certs.js';
import { waitFor } from '../../../test/helpers/wait-for.js';

let pki: TestPki;
let server: Pem;
const registries: TlsRegistry[] = [];

beforeAll(async () => {
  pki = await createPki();
  server = await pki.leaf({ dns: ['api.example.com'], uris: ['spiffe://cluster.local/ns/default/sa/proxy'], notAfter: new Date('2031-01-01T00:00:00Z') });
});

afterEach(() => {
  vi.useRealTimers();
  for (const r of registries.splice(0)) r.close();
});

function setup(rotation = '12h'): { dir: string; config: Config; registry: TlsRegistry; clock: { now: number } } {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-tls-registry-'));
  writePem(dir, 'server', server);
  writeFileSync(join(dir, 'ca.pem'), pki.ca.cert);
  const v = validateConfig({
    listeners: [
      {
        name: 'web',
        protocol: 'http',
        port: 0,
        tls: { certificates: [{ cert_file: 'server.pem', key_file: 'server.key' }], client_certificate: { ca_file: 'ca.pem' }, session_ticket_rotation: rotation },
        routes: [{ match: { prefix: '/' }, cluster: 'c' }],
      },
    ],
    clusters: [{ name: 'c', tls: { ca_file: 'ca.pem' }, endpoints: [{ address: '127.0.0.1', port: 1 }] }],
  });
  if (!v.ok) throw new Error(JSON.stringify(v.problems));
  const clock = { now: Date.parse('2030-01-01T00:00:00Z') };
  const registry = new TlsRegistry(dir, () => clock.now);
  registries.push(registry);
  return { dir, config: v.config, registry, clock };
}

function keysOf(r: ReturnType<TlsRegistry['build']>): string {
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return Buffer.from(r.material.listeners.web!.ticketKeys).toString('hex');
}

describe('TlsRegistry', () => {
  it('hands the files over as PEM, with the proxy URI for x-forwarded-client-cert and each certificate expiry', () => {
    const { config, registry, dir } = setup();
    const r = registry.build(config);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.material.listeners.web).toMatchObject({ ca: pki.ca.cert, certificates: [{ cert: server.cert, key: server.key, serverNames: [], uri: 'spiffe://cluster.local/ns/default/sa/proxy' }] });
    expect(r.material.listeners.web!.ticketKeys).toHaveLength(48);
    expect(r.material.clusters).toEqual({ c: { ca: pki.ca.cert, cert: null, key: null } });
    expect(registry.expiries).toEqual([{ file: join(dir, 'server.pem'), notAfter: Date.parse('2031-01-01T00:00:00Z') }]);
  });

  it('keeps the session ticket keys until the rotation is due, then makes new ones', () => {
    const { config, registry, clock } = setup('12h');
    const first = keysOf(registry.build(config));
    clock.now += 12 * 3600_000 - 1;
    expect(keysOf(registry.build(config))).toBe(first);
    clock.now += 1;
    const second = keysOf(registry.build(config));
    expect(second).not.toBe(first);
    expect(keysOf(registry.build(config))).toBe(second);
  });

  it('asks for a rebuild once a minute when some listener keys are due', () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { config, registry, clock } = setup('2m');
    registry.build(config);
    const rotate = vi.fn();
    registry.startRotation(() => config, rotate);
    clock.now += 60_000;
    vi.advanceTimersByTime(60_000);
    expect(rotate).not.toHaveBeenCalled();
    clock.now += 60_000;
    vi.advanceTimersByTime(60_000);
    expect(rotate).toHaveBeenCalledTimes(1);
  });

  it('refuses a broken replacement with the path of the field, and reports a changed file', async () => {
    const { config, registry, dir } = setup();
    expect(registry.build(config).ok).toBe(true);
    const changed: string[] = [];
    registry.watchChanges((file) => changed.push(file));
    writeFileSync(join(dir, 'server.pem'), 'not a certificate\n');
    await waitFor(() => changed.length > 0, { message: 'the change to be reported', timeoutMs: 5000 });
    expect(changed).toEqual([join(dir, 'server.pem')]);
    const r = registry.build(config);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems).toEqual([{ path: 'listeners[0].tls.certificates[0].cert_file', message: `${join(dir, 'server.pem')} holds no PEM certificate` }]);
  });
});
