/**
 * gRPC status names in `retry.on`: each name covers its one gRPC status (read from a trailers-only
 * answer's grpc-status) and nothing else, and the HTTP conditions cover no gRPC status.
 */
import { describe, expect, it } from 'vitest';
import { compileRetryOn, retryOnProblem } from '../src/resilience/index.js';

/** Every gRPC status code, OK to UNAUTHENTICATED. */
const CODES = Array.from({ length: 17 }, (_, i) => i);
const covered = (on: string[]) => CODES.filter((c) => compileRetryOn(on).coversGrpc(c));

describe('RetryOn.coversGrpc', () => {
  it.each<[string[], number[]]>([
    [['unavailable'], [14]],
    [['cancelled'], [1]],
    [['deadline-exceeded'], [4]],
    [['resource-exhausted'], [8]],
    [['internal'], [13]],
    [['cancelled', 'deadline-exceeded', 'resource-exhausted', 'internal', 'unavailable'], [1, 4, 8, 13, 14]],
    [['unavailable', 'unavailable'], [14]],
    // HTTP conditions say nothing about gRPC statuses.
    [['connect-failure', 'reset', 'gateway-error', '5xx', 'retriable-4xx', '503'], []],
    [[], []],
  ])('%j covers gRPC %j', (on, codes) => expect(covered(on)).toEqual(codes));

  it('unavailable: 14 yes, 13 no', () => {
    const on = compileRetryOn(['unavailable']);
    expect(on.coversGrpc(14)).toBe(true);
    expect(on.coversGrpc(13)).toBe(false);
  });

  it('never OK, and nothing outside the codes', () => {
    const all = compileRetryOn(['cancelled', 'deadline-exceeded', 'resource-exhausted', 'internal', 'unavailable']);
    expect([0, -1, 17, 31, 32, 46, 1000, Number.NaN].map((c) => all.coversGrpc(c))).toEqual([false, false, false, false, false, false, false, false]);
  });

  it('gRPC names do not cover HTTP outcomes', () => {
    const on = compileRetryOn(['unavailable', 'deadline-exceeded', 'internal']);
    expect([on.covers(503), on.covers(504), on.covers(500), on.covers('connect-failure'), on.covers('reset'), on.covers('timeout')]).toEqual([false, false, false, false, false, false]);
  });

  it('HTTP conditions beside gRPC names keep their meaning', () => {
    const on = compileRetryOn(['unavailable', 'connect-failure', '503']);
    expect([on.covers('connect-failure'), on.covers(503), on.covers(502), on.coversGrpc(14)]).toEqual([true, true, false, true]);
  });
});

describe('gRPC names in retry.on: accepted and refused', () => {
  it.each(['cancelled', 'deadline-exceeded', 'resource-exhausted', 'unavailable', 'internal'])('%s is accepted', (name) => {
    expect(retryOnProblem(name)).toBeUndefined();
    expect(() => compileRetryOn([name])).not.toThrow();
  });

  it.each(['UNAVAILABLE', 'deadline_exceeded', 'not-found', 'ok'])('%s is refused, naming the gRPC names', (name) => {
    const problem =
      'expected connect-failure, reset, gateway-error, 5xx, retriable-4xx, a gRPC status (cancelled, deadline-exceeded, ' +
      `resource-exhausted, unavailable, internal) or a status code 400-599, got ${JSON.stringify(name)}`;
    expect(retryOnProblem(name)).toBe(problem);
    expect(() => compileRetryOn(['reset', name])).toThrow(new RangeError(`retry.on[1]: ${problem}`));
  });
});
