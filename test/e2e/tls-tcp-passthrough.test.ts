/**
 * TCP listeners with `tls_passthrough` end to end: the real CLI with two workers in front of TLS
 * upstreams that each have their own certificate (the egress case: services reach external APIs
 * through the sidecar by name). The SNI of the ClientHello picks the cluster, nothing is decrypted, and
 * the client completes its handshake with the upstream itself; unknown names go to default_cluster or
 * are closed; clients that do not speak TLS are closed; a ClientHello split into tiny writes still
 * routes. Checked by the certificate the client sees, the upstream that answers, metrics and the log.
 */
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPki, type TestPki } from '../helpers/certs.js';
import { freePorts } from '../helpers/ports.js';
import { metric, startPillion, type PillionProcess } from '../helpers/pillion.js';
import { waitFor } from '../helpers/wait-for.js';
import { accessLines } from './l4-servers.js';
import { Trickle, cnOf, tlsExchange, tlsTagged } from './tls-tcp-peers.js';

type Upstream = Awaited<ReturnType<typeof tlsTagged>>;
let pillion: PillionProcess;
let pki: TestPki;
let up: Record<'a' | 'b' | 'wild' | 'fallback', Upstream>;
let ports: { egress: number; strict: number };

beforeAll(async () => {
  pki = await createPki();
  up = {
    a: await tlsTagged('a', await pki.leaf({ cn: 'a.example', dns: ['a.example'], usage: 'server' })),
    b: await tlsTagged('b', await pki.leaf({ cn: 'b.example', dns: ['b.example'], usage: 'server' })),
    wild: await tlsTagged('wild', await pki.leaf({ cn: '*.wild.example', dns: ['*.wild.example'], usage: 'server' })),
    fallback: await tlsTagged('fallback', await pki.leaf({ cn: 'fallback.example', dns: ['fallback.example'], usage: 'server' })),
  };
  const [lEgress, lStrict, admin] = await freePorts(3);
  ports = { egress: lEgress!, strict: lStrict! };
  const routes = [
    { server_names: ['a.example'], cluster: 'a' },
    { server_names: ['b.example'], cluster: 'b' },
    { server_names: ['*.wild.example'], cluster: 'wild' },
  ];
  const cluster = (name: keyof typeof up) => ({ name, endpoints: [{ address: '127.0.0.1', port: up[name].port }] });
  pillion = await startPillion({
    workers: 2,
    admin: { port: admin! },
    listeners: [
      { name: 'egress', protocol: 'tcp', port: lEgress, tls_passthrough: { routes, default_cluster: 'fallback' } },
      { name: 'strict', protocol: 'tcp', port: lStrict, tls_passthrough: { routes } },
    ],
    clusters: [cluster('a'), cluster('b'), cluster('wild'), cluster('fallback')],
  });
});

afterAll(async () => {
  await pillion?.stop('SIGKILL');
  await Promise.all(Object.values(up ?? {}).map((u) => u.close()));
});

/** Trusts the test CA; the host-name check is the test's own (unknown names reach the default certificate). */
const client = (servername?: string) => ({ ca: pki.ca.cert, servername, checkServerIdentity: () => undefined });

describe('tcp listener with tls_passthrough', () => {
  it('routes by SNI to the upstream whose own certificate the client verifies, on many connections', async () => {
    const cases = [
      ['a.example', 'a', 'a.example'],
      ['b.example', 'b', 'b.example'],
      ['api.wild.example', 'wild', '*.wild.example'],
      ['deep.api.wild.example', 'wild', '*.wild.example'],
      ['unknown.example', 'fallback', 'fallback.example'],
    ] as const;
    const runs = Array.from({ length: 40 }, (_, i) => cases[i % cases.length]!);
    const results = await Promise.all(runs.map(([sni], i) => tlsExchange(ports.egress, client(sni), `ping ${i}`)));
    results.forEach((r, i) => {
      const [, name, cn] = runs[i]!;
      expect(r.error).toBeUndefined();
      expect(r.cn).toBe(cn);
      expect(r.reply.toString()).toBe(`${name}:ping ${i}`);
    });
    await waitFor(() => accessLines(pillion.output(), 'egress').length === 40);
    const lines = accessLines(pillion.output(), 'egress');
    expect(lines.filter((l) => l.sni === 'a.example' && l.cluster === 'a' && l.end === 'closed').length).toBe(8);
    expect(lines.filter((l) => l.sni === 'unknown.example' && l.cluster === 'fallback').length).toBe(8);
    const m = await pillion.metrics();
    expect(metric(m, 'pillion_tcp_connections_total', { listener: 'egress' })).toBe(40);
    expect(metric(m, 'pillion_upstream_connections_total', { cluster: 'wild' })).toBe(16);
  });

  it('sends a ClientHello without SNI to default_cluster', async () => {
    const r = await tlsExchange(ports.egress, client(undefined), 'no name');
    expect(r.reply.toString()).toBe('fallback:no name');
  });

  it('closes an unknown name when there is no default_cluster, and counts it', async () => {
    const before = Object.values(up).map((u) => u.accepted());
    const r = await tlsExchange(ports.strict, client('unknown.example'), 'x');
    expect(r.secure).toBe(false);
    expect(r.reply.length).toBe(0);
    expect((await tlsExchange(ports.strict, client(undefined), 'x')).secure).toBe(false);
    expect(metric(await pillion.metrics(), 'pillion_tls_passthrough_unrouted_total', { listener: 'strict', reason: 'no_route' })).toBe(2);
    expect(Object.values(up).map((u) => u.accepted())).toEqual(before);
    await waitFor(() => accessLines(pillion.output(), 'strict').some((l) => l.end === 'no-route' && l.sni === 'unknown.example'));
    // the same listener still routes known names
    expect((await tlsExchange(ports.strict, client('b.example'), 'y')).reply.toString()).toBe('b:y');
  });

  it('closes a client that does not speak TLS, and counts it', async () => {
    const s = connect(ports.egress, '127.0.0.1');
    s.on('error', () => {});
    let got = 0;
    s.on('data', (d: Buffer) => (got += d.length));
    s.write('GET / HTTP/1.1\r\nhost: a.example\r\n\r\n');
    await new Promise((r) => s.once('close', r));
    expect(got).toBe(0);
    expect(metric(await pillion.metrics(), 'pillion_tls_passthrough_unrouted_total', { listener: 'egress', reason: 'not_tls' })).toBe(1);
    await waitFor(() => accessLines(pillion.output(), 'egress').some((l) => l.end === 'not-tls'));
  });

  it('routes a ClientHello that arrives in tiny writes', async () => {
    const trickle = new Trickle(ports.egress, 3);
    const r = await new Promise<{ cn: string; reply: string }>((resolve, reject) => {
      const s = tlsConnect({ socket: trickle, ca: pki.ca.cert, servername: 'a.example' }, () => s.end('slowly'));
      let reply = '';
      s.on('data', (d: Buffer) => (reply += d));
      s.on('error', reject);
      s.on('end', () => resolve({ cn: cnOf(s), reply }));
    });
    expect(r).toEqual({ cn: 'a.example', reply: 'a:slowly' });
    expect(trickle.writes).toBeGreaterThan(50);
  });
});
