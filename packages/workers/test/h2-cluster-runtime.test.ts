/**
 * A cluster with `protocol: h2c` as the worker runs it: the cluster runtime gives its endpoints HTTP/2
 * session pools, a proxied request (ProxyExchange with its upstream attempts) goes upstream as an
 * HTTP/2 stream, a refused stream is retried on another endpoint even for a POST, and a reload that
 * changes the protocol replaces the pools.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SharedState, validateConfig, type Config } from '@pillion/core';
import { SlotRegistry } from '../src/supervisor/slot-registry.js';
import { EndpointPool } from '../src/upstream/endpoint-pool.js';
import { H2SessionPool } from '../src/upstream/h2-session-pool.js';
import { ClusterRuntime } from '../src/worker/cluster-runtime.js';
import { waitFor } from '../../../test/helpers/wait-for.js';
import { Harness } from './exchange-fixtures.js';
import { NGHTTP2_REFUSED_STREAM, closeServers, h2Upstream } from './h2-fixtures.js';

let harness: Harness | null = null;
afterEach(async () => {
  harness?.close();
  harness = null;
  await closeServers();
});

describe('cluster protocol h2c', () => {
  it('proxies a request over an HTTP/2 session of the endpoint\'s pool', async () => {
    const u = await h2Upstream();
    const h = (harness = new Harness({ upstreams: [u.port], cluster: { protocol: 'h2c' } }));
    expect(h.endpoint(u.port).pool).toBeInstanceOf(H2SessionPool);
    const { res } = h.request('GET', '/hello');
    await waitFor(() => res.ended, { message: 'the response' });
    expect(res.violations).toEqual([]);
    expect([res.statusCode, res.text]).toEqual([200, 'ok /hello']);
    expect(u.streams[0]!.headers[':authority']).toBe('example.test');
    expect(h.clusterStat('upstream_h2_streams')).toBe(1);
    expect(h.held()).toEqual(h.idle());
  });

  it('sends a request body as the stream\'s DATA', async () => {
    const u = await h2Upstream({
      handler: (stream) => {
        const parts: Buffer[] = [];
        stream.on('data', (d: Buffer) => parts.push(d));
        stream.on('end', () => {
          stream.respond({ ':status': 201 });
          stream.end(`got ${Buffer.concat(parts).toString()}`);
        });
      },
    });
    const h = (harness = new Harness({ upstreams: [u.port], cluster: { protocol: 'h2c' } }));
    const { res } = h.request('POST', '/upload', { 'content-length': '11' });
    res.send(Buffer.from('hello '), false);
    res.send(Buffer.from('world'), true);
    await waitFor(() => res.ended, { message: 'the response' });
    expect([res.statusCode, res.text]).toEqual([201, 'got hello world']);
    expect(u.streams[0]!.headers['content-length']).toBe('11');
    expect(h.held()).toEqual(h.idle());
  });

  it('retries a POST the endpoint refused (REFUSED_STREAM) on another endpoint', async () => {
    const refusing = await h2Upstream({ handler: (stream) => stream.close(NGHTTP2_REFUSED_STREAM) });
    const good = await h2Upstream();
    const h = (harness = new Harness({
      upstreams: [refusing.port, good.port],
      cluster: { protocol: 'h2c' },
      route: { retry: { attempts: 1, on: ['reset'], backoff: { base: '1ms', max: '1ms' } } },
    }));
    const { res } = h.request('POST', '/orders', { 'content-length': '2' });
    res.send(Buffer.from('{}'), true);
    await waitFor(() => res.ended, { message: 'the response' });
    expect([res.statusCode, res.text]).toEqual([200, 'ok /orders']);
    expect(refusing.streams.length).toBe(1);
    expect(h.clusterStat('upstream_h2_refused_streams')).toBe(1);
    expect(h.clusterStat('retries')).toBe(1);
    expect(h.held()).toEqual(h.idle());
  });
});

describe('reloads', () => {
  function runtime(config: Config, state: SharedState, previous?: ClusterRuntime): ClusterRuntime {
    const snapshot = new SlotRegistry(state).snapshot(config);
    return new ClusterRuntime(snapshot.clusters[0]!, state, state.statsWriter(0), 65536, previous);
  }
  function config(cluster: Record<string, unknown>): Config {
    const r = validateConfig({
      workers: 1,
      listeners: [{ name: 'web', protocol: 'http', port: 1, routes: [{ match: { prefix: '/' }, cluster: 'c' }] }],
      clusters: [{ name: 'c', endpoints: [{ address: '127.0.0.1', port: 9 }], ...cluster }],
    });
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    return r.config;
  }

  it('keeps an endpoint\'s pool while the protocol and http2 settings stay, and replaces it when they change', () => {
    const state = SharedState.create({ maxClusters: 2, maxEndpoints: 4, maxListeners: 1, maxThreads: 2 });
    const h1 = runtime(config({}), state);
    expect(h1.endpoints[0]!.pool).toBeInstanceOf(EndpointPool);
    const h2 = runtime(config({ protocol: 'h2c' }), state, h1);
    expect(h2.endpoints[0]!.pool).toBeInstanceOf(H2SessionPool);
    expect(h1.retiredPools(h2)).toEqual([h1.endpoints[0]!.pool]);
    const same = runtime(config({ protocol: 'h2c' }), state, h2);
    expect(same.endpoints[0]!.pool).toBe(h2.endpoints[0]!.pool);
    const more = runtime(config({ protocol: 'h2c', http2: { sessions_per_endpoint: 2 } }), state, same);
    expect(more.endpoints[0]!.pool).not.toBe(same.endpoints[0]!.pool);
    for (const r of [h1, h2, more]) for (const e of r.endpoints) e.pool.close();
  });
});
