/**
 * A filter built with the published proxy-wasm AssemblyScript SDK (@solo-io/proxy-runtime 0.1.8, its
 * README's add-header example, unchanged; packages/workers/test/fixtures/proxy-runtime) runs in Pillion
 * as Envoy runs it: root_id picks its root context, `config` is its configuration (the README's Envoy
 * config gives "what ever you want"), and every response gets `hello: <configuration>`.
 *
 * Without configuration the example does not run, here or in Envoy: the SDK's onConfigure passes the
 * configuration's size (0) where the address of the size belongs, the host (as proxy-wasm-cpp-host's
 * get_buffer_bytes does for an empty buffer) writes a null pointer and a zero size, and the SDK then
 * reads an ArrayBuffer at address 0 and traps. Pillion refuses to start with the trap named.
 */
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { runCli, startPillion, writeConfig, type PillionProcess } from '../helpers/pillion.js';

const ADD_HEADER = fileURLToPath(new URL('../../packages/workers/test/fixtures/proxy-runtime/add-header.wasm', import.meta.url));

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

let p: PillionProcess;
let ports: number[];

beforeAll(async () => {
  ports = await freePorts(3);
  const [up, web, admin] = ports;
  const server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(up, '127.0.0.1', () => r()));
  cleanup.push(() => new Promise((r) => (server.closeAllConnections(), server.close(r))));
  p = await startPillion({
    workers: 2,
    admin: { port: admin },
    listeners: [{ name: 'web', protocol: 'http', port: web, filters: [filter('what ever you want')], routes: [{ match: { prefix: '/' }, cluster: 'up' }] }],
    clusters: [{ name: 'up', endpoints: [{ address: '127.0.0.1', port: up }] }],
  });
  cleanup.push(() => p.stop());
});

const filter = (config: string) => ({ wasm: ADD_HEADER, root_id: 'add_header', config });

async function get(port: number) {
  const agent = new Agent({ pipelining: 0 });
  try {
    const r = await request(`http://127.0.0.1:${port}/`, { dispatcher: agent });
    return { status: r.statusCode, hello: r.headers.hello, body: await r.body.text() };
  } finally {
    await agent.close();
  }
}

describe('the proxy-runtime SDK add-header example', () => {
  it('adds hello: <configuration> to every response, on both workers', async () => {
    for (let i = 0; i < 6; i++) expect(await get(ports[1]!)).toEqual({ status: 200, hello: 'what ever you want', body: 'ok' });
  });

  it('without configuration, traps in the SDK as in Envoy: refused at start with the trap named', async () => {
    const r = await runCli(['--config', writeConfig({ admin: { port: ports[2]! }, listeners: [{ name: 'web', protocol: 'http', port: ports[1]!, filters: [filter('')], routes: [{ match: { prefix: '/' }, cluster: 'up' }] }], clusters: [{ name: 'up', endpoints: [{ address: '127.0.0.1', port: ports[0]! }] }] })]);
    expect({ code: r.code, out: r.stdout + r.stderr }).toMatchObject({ code: 1, out: expect.stringContaining('memory access out of bounds') });
  });
});
