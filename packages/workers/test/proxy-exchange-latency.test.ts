/**
 * What an exchange's attempts add to the latency and breakdown statistics: a pool wait per attempt
 * handed a connection, a first-byte time per response head, an upstream duration per completed
 * response, a response class per attempt on its endpoint (none for a failure without a response),
 * and each retry counted by its reason.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CODE_CLASSES, RETRY_REASONS, RETRY_REASON_STATS } from '@pillion/core';
import { answer, exchangeTestBed, resetWhenComplete, silent, type Harness } from './exchange-fixtures.js';
import { closedPort } from './h2-fixtures.js';
import { waitFor } from '../../../test/helpers/wait-for.js';

const bed = exchangeTestBed();
const { upstream, start } = bed;
afterEach(() => bed.cleanup());

const retry = (on: string[]) => ({ retry: { attempts: 1, on, backoff: { base: '1ms', max: '1ms' } } });

/** Retries of cluster c by reason, as { reason: count } with the zero ones left out. */
function retryReasons(h: Harness): Record<string, number> {
  const out: Record<string, number> = {};
  RETRY_REASONS.forEach((reason, i) => {
    const n = h.clusterStat(RETRY_REASON_STATS[i]!);
    if (n) out[reason] = n;
  });
  return out;
}

function responses(h: Harness, port: number): number[] {
  return CODE_CLASSES.map((c) => h.state.endpointStat(h.endpoint(port).slot, `responses_${c}`));
}

function counts(h: Harness): { poolWait: number; firstByte: number; duration: number } {
  return {
    poolWait: h.state.clusterHistogram(h.c.slot, 'pool_wait').count,
    firstByte: h.state.clusterHistogram(h.c.slot, 'upstream_first_byte').count,
    duration: h.state.clusterHistogram(h.c.slot, 'upstream_duration').count,
  };
}

async function served(h: Harness, status: number): Promise<void> {
  const { res } = h.request('GET', '/x');
  await waitFor(() => res.ended, { message: 'the response' });
  expect(res.statusCode).toBe(status);
}

describe('attempt statistics', () => {
  it('a retried 503: two pool waits and first bytes, one duration, 5xx then 2xx on the endpoints, reason status', async () => {
    const a = await upstream(answer(503, 'busy'));
    const b = await upstream(answer(200, 'ok'));
    const h = start({ upstreams: [a.port, b.port], route: retry(['503']) });
    await served(h, 200);
    expect(counts(h)).toEqual({ poolWait: 2, firstByte: 2, duration: 1 });
    expect(responses(h, a.port)).toEqual([0, 0, 0, 0, 0, 1]);
    expect(responses(h, b.port)).toEqual([0, 0, 1, 0, 0, 0]);
    expect(retryReasons(h)).toEqual({ status: 1 });
    expect(h.clusterStat('retries')).toBe(1);
    const total = h.state.clusterHistogram(h.c.slot, 'upstream_duration');
    const first = h.state.clusterHistogram(h.c.slot, 'upstream_first_byte');
    expect(total.sum).toBeGreaterThan(0);
    expect(first.sum).toBeGreaterThan(0);
  });

  it('a reset: no response (class none), reason reset', async () => {
    const a = await upstream(resetWhenComplete);
    const b = await upstream(answer(200, 'ok'));
    const h = start({ upstreams: [a.port, b.port], route: retry(['reset']) });
    await served(h, 200);
    expect(counts(h)).toEqual({ poolWait: 2, firstByte: 1, duration: 1 });
    expect(responses(h, a.port)).toEqual([1, 0, 0, 0, 0, 0]);
    expect(responses(h, b.port)).toEqual([0, 0, 1, 0, 0, 0]);
    expect(retryReasons(h)).toEqual({ reset: 1 });
  });

  it('a connect failure: no pool wait for the failed attempt (nothing was handed over), reason connect-failure', async () => {
    const dead = await closedPort();
    const b = await upstream(answer(204));
    const h = start({ upstreams: [dead, b.port], route: retry(['connect-failure']) });
    await served(h, 204);
    expect(counts(h)).toEqual({ poolWait: 1, firstByte: 1, duration: 1 });
    expect(responses(h, dead)).toEqual([1, 0, 0, 0, 0, 0]);
    expect(responses(h, b.port)).toEqual([0, 0, 1, 0, 0, 0]);
    expect(retryReasons(h)).toEqual({ 'connect-failure': 1 });
  });

  it('a per-try timeout: the silent attempt is classed none, reason timeout', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    vi.spyOn(Math, 'random').mockReturnValue(0.5);
    const a = await upstream(silent);
    const b = await upstream(answer(200, 'ok'));
    const h = start({ upstreams: [a.port, b.port], route: { retry: { attempts: 1, per_try_timeout: '1s', backoff: { base: '2ms', max: '2ms' } } } });
    const { res } = h.request('GET', '/x');
    await waitFor(() => a.completeRequests.length === 1, { message: 'the request at a' });
    vi.advanceTimersByTime(1000);
    expect(retryReasons(h)).toEqual({ timeout: 1 });
    expect(responses(h, a.port)).toEqual([1, 0, 0, 0, 0, 0]);
    vi.advanceTimersByTime(1);
    await waitFor(() => res.ended, { message: 'the response' });
    expect(res.statusCode).toBe(200);
    expect(counts(h)).toEqual({ poolWait: 2, firstByte: 1, duration: 1 });
    expect(responses(h, b.port)).toEqual([0, 0, 1, 0, 0, 0]);
  });

  it('without a retry policy nothing is counted as a retry, and the answer is classed as it came', async () => {
    const a = await upstream(answer(404, 'no'));
    const h = start({ upstreams: [a.port] });
    await served(h, 404);
    expect(counts(h)).toEqual({ poolWait: 1, firstByte: 1, duration: 1 });
    expect(responses(h, a.port)).toEqual([0, 0, 0, 0, 1, 0]);
    expect(retryReasons(h)).toEqual({});
  });
});
