import { EndpointState, HEALTH_ACTIVE_FAILED, HEALTH_UNKNOWN } from '@pillion/core';
import { describe, expect, it } from 'vitest';
import { Process, configWith, picks, request } from './lb-fixtures.js';

const two = [{ port: 1001 }, { port: 1002 }];

describe('round robin across workers', () => {
  it('walks one shared sequence, so picks alternate whichever worker makes them', () => {
    const p = new Process(configWith({ endpoints: two }));
    const w0 = p.worker(0);
    const w1 = p.worker(1);
    const order = [w0, w1, w1, w0, w0, w0, w1, w0];
    expect(order.map((w) => w.pick(request(), 0)!.port)).toEqual([1001, 1002, 1001, 1002, 1001, 1002, 1001, 1002]);
  });

  it('follows weights with the smooth schedule, shared too', () => {
    const p = new Process(configWith({ endpoints: [{ port: 1001, weight: 3 }, { port: 1002, weight: 1 }] }));
    const w0 = p.worker(0);
    const w1 = p.worker(1);
    const got = [w0, w1, w0, w1, w0, w1, w0, w1].map((w) => w.pick(request(), 0)!.port);
    expect(got).toEqual([1001, 1001, 1002, 1001, 1001, 1001, 1002, 1001]);
  });
});

describe('rebuilding on the membership generation', () => {
  it('keeps its build until the generation moves, then drops a failed endpoint', () => {
    const p = new Process(configWith({ endpoints: [{ port: 1001 }, { port: 1002 }, { port: 1003 }] }));
    const w = p.worker(0);
    expect(picks(w, 3)).toEqual([1001, 1002, 1003]);
    p.state.orEndpoint(p.slotOf(1002), 'health', HEALTH_ACTIVE_FAILED);
    expect(picks(w, 3)).toEqual([1001, 1002, 1003]); // not bumped: the old build stands
    p.bump();
    expect(picks(w, 4)).toEqual([1001, 1003, 1001, 1003]);
  });

  it('never picks a draining endpoint, not even in panic', () => {
    const p = new Process(configWith({ endpoints: [{ port: 1001 }, { port: 1002 }, { port: 1003 }] }));
    const w = p.worker(0);
    p.state.setEndpoint(p.slotOf(1001), 'state', EndpointState.Draining);
    p.state.orEndpoint(p.slotOf(1002), 'health', HEALTH_ACTIVE_FAILED);
    p.state.orEndpoint(p.slotOf(1003), 'health', HEALTH_ACTIVE_FAILED);
    p.bump();
    expect(w.balancer.hostSet.panic).toBe(false); // not built yet
    expect(new Set(picks(w, 6))).toEqual(new Set([1002, 1003]));
    expect(w.balancer.hostSet.panic).toBe(true);
  });

  it('treats endpoints not checked yet as not healthy: panic spreads over them all', () => {
    const p = new Process(configWith({ endpoints: two, health_check: { tcp: {} } }));
    expect(p.state.endpoint(p.slotOf(1001), 'health')).toBe(HEALTH_UNKNOWN);
    const w = p.worker(0);
    expect(picks(w, 2)).toEqual([1001, 1002]);
    expect(w.balancer.hostSet.panic).toBe(true);
    p.state.andEndpoint(p.slotOf(1002), 'health', ~HEALTH_UNKNOWN);
    p.bump();
    expect(picks(w, 3)).toEqual([1002, 1002, 1002]);
  });

  it('answers null when every endpoint is draining', () => {
    const p = new Process(configWith({ endpoints: two }));
    const w = p.worker(0);
    for (const port of [1001, 1002]) p.state.setEndpoint(p.slotOf(port), 'state', EndpointState.Draining);
    p.bump();
    expect(w.pick(request(), 0)).toBeNull();
  });

  it('uses the effective weight from SharedState', () => {
    const p = new Process(configWith({ endpoints: two }));
    p.state.setEndpoint(p.slotOf(1001), 'effective_weight_milli', 3000);
    p.bump();
    const w = p.worker(0);
    expect(picks(w, 4)).toEqual([1001, 1001, 1002, 1001]);
  });
});

describe('least request', () => {
  it('reads active requests counted by every worker', () => {
    const p = new Process(configWith({ endpoints: two, lb: { policy: 'least-request' } }));
    const w = p.worker(0);
    p.state.addEndpoint(p.slotOf(1001), 'rq_active', 3); // in flight on some other worker
    expect(picks(w, 5)).toEqual([1002, 1002, 1002, 1002, 1002]);
    p.state.addEndpoint(p.slotOf(1002), 'rq_active', 4);
    expect(picks(w, 3)).toEqual([1001, 1001, 1001]);
  });
});

describe('consistent hashing', () => {
  const endpoints = [{ port: 1001 }, { port: 1002 }, { port: 1003 }, { port: 1004 }];

  it.each([
    ['ring-hash', 'header:x-user', (k: string) => request({ 'x-user': k })],
    ['maglev', 'header:x-user', (k: string) => request({ 'x-user': k })],
    ['ring-hash', 'cookie:sid', (k: string) => request({ cookie: `a=1; sid=${k}; b=2` })],
    ['maglev', 'source-ip', (k: string) => request({}, k)],
  ] as const)('%s on %s maps a key to one endpoint in every worker', (policy, hashOn, req) => {
    const p = new Process(configWith({ endpoints, lb: { policy, hash_on: hashOn } }));
    const w0 = p.worker(0);
    const w1 = p.worker(1);
    const keys = Array.from({ length: 40 }, (_, i) => `key-${i}`);
    const a = keys.map((k) => w0.pick(req(k), 0)!.port);
    const b = keys.map((k) => w1.pick(req(k), 0)!.port);
    expect(b).toEqual(a);
    expect(new Set(a).size).toBe(4);
    // Only the keys of an endpoint that leaves move.
    p.state.orEndpoint(p.slotOf(1002), 'health', HEALTH_ACTIVE_FAILED);
    p.bump();
    const after = keys.map((k) => w0.pick(req(k), 0)!.port);
    keys.forEach((_, i) => {
      if (a[i] !== 1002) expect(after[i]).toBe(a[i]);
      else expect(after[i]).not.toBe(1002);
    });
  });

  it('spreads requests without the key at random', () => {
    const p = new Process(configWith({ endpoints, lb: { policy: 'maglev', hash_on: 'header:x-user' } }));
    const w = p.worker(0);
    expect(new Set(picks(w, 40)).size).toBe(4);
  });
});

describe('zones', () => {
  const endpoints = [
    { port: 1001, zone: 'a' },
    { port: 1002, zone: 'a' },
    { port: 1003, zone: 'b' },
    { port: 1004, zone: 'b' },
  ];

  it('keeps traffic in the local zone while it is healthy, and spills when it is not', () => {
    const p = new Process(configWith({ endpoints, lb: { local_zone: 'a' } }));
    const w = p.worker(0);
    expect(new Set(picks(w, 20))).toEqual(new Set([1001, 1002]));
    p.state.orEndpoint(p.slotOf(1001), 'health', HEALTH_ACTIVE_FAILED);
    p.bump();
    // Local holds a third of the eligible weight against half of the capacity: two thirds stay local.
    const got = picks(w, 3000);
    const local = got.filter((x) => x === 1002).length / got.length;
    expect(local).toBeGreaterThan(0.62);
    expect(local).toBeLessThan(0.71);
    expect(got).not.toContain(1001);
  });
});

describe('walking on', () => {
  it('gives different endpoints on later attempts of one request', () => {
    const p = new Process(configWith({ endpoints: [{ port: 1001 }, { port: 1002 }, { port: 1003 }], lb: { policy: 'random' } }));
    const w = p.worker(0);
    const req = request();
    const seen = [0, 1, 2].map((attempt) => w.pick(req, attempt)!.port);
    expect(new Set(seen).size).toBe(3);
  });
});

describe('a retry after the cluster shrank under the request', () => {
  const policies = ['round-robin', 'random', 'least-request', 'ring-hash', 'maglev'] as const;

  /** A request whose attempt 0 goes to 1002, the second endpoint (the case that read past the shrunk set). */
  function toSecond(p: Process, w: ReturnType<Process['worker']>, policy: (typeof policies)[number]) {
    for (let k = 0; k < 200; k++) {
      const req = request({ 'x-user': `u${k}` });
      if (w.pick(req, 0)!.port === 1002) return req;
      if (policy === 'least-request') p.state.addEndpoint(p.slotOf(1001), 'rq_active', 1); // sway the next one
    }
    throw new Error('no request goes to 1002');
  }

  it.each(policies.flatMap((policy) => [undefined, 'z1'].map((local_zone) => ({ policy, local_zone }))))(
    '$policy (local zone $local_zone): 1002 ejected after 5 x 503 on attempt 0, attempts 1..3 go to 1001, never throw',
    ({ policy, local_zone }) => {
      const p = new Process(
        configWith({
          endpoints: [
            { port: 1001, zone: 'z1' },
            { port: 1002, zone: 'z1' },
          ],
          lb: { policy, hash_on: policy === 'ring-hash' || policy === 'maglev' ? 'header:x-user' : undefined, local_zone },
          outlier_detection: { consecutive_5xx: 5 },
        }),
      );
      const w = p.worker(0, () => 0.99);
      const bad = w.endpoints.find((e) => e.port === 1002)!;
      for (let i = 0; i < 4; i++) w.onResult(bad, 503);
      const req = toSecond(p, w, policy);
      w.onResult(bad, 503); // the fifth: ejected, the generation moves before the retry
      expect([1, 2, 3].map((attempt) => w.pick(req, attempt)?.port)).toEqual([1001, 1001, 1001]);
    },
  );

  it.each(policies)('%s: every endpoint gone before the retry: attempts 1..3 answer null', (policy) => {
    const hashOn = policy === 'ring-hash' || policy === 'maglev' ? 'header:x-user' : undefined;
    const p = new Process(configWith({ endpoints: [{ port: 1001 }, { port: 1002 }, { port: 1003 }], lb: { policy, hash_on: hashOn } }));
    const w = p.worker(1);
    const req = request({ 'x-user': 'someone' });
    expect(w.pick(req, 0)).not.toBeNull();
    for (const port of [1001, 1002, 1003]) p.state.setEndpoint(p.slotOf(port), 'state', EndpointState.Draining);
    p.bump();
    expect([1, 2, 3].map((attempt) => w.pick(req, attempt))).toEqual([null, null, null]);
  });

  it('a health check marking the last endpoint down between attempts: the retry walks the new set', () => {
    const p = new Process(configWith({ endpoints: [{ port: 1001 }, { port: 1002 }, { port: 1003 }], lb: { policy: 'least-request', choices: 3 } }));
    const w = p.worker(0, () => 0.99);
    const req = request();
    expect(w.pick(req, 0)!.port).toBe(1003);
    p.state.orEndpoint(p.slotOf(1003), 'health', HEALTH_ACTIVE_FAILED);
    p.bump();
    const walk = [1, 2].map((attempt) => w.pick(req, attempt)!.port);
    expect(new Set(walk)).toEqual(new Set([1001, 1002]));
  });
});
