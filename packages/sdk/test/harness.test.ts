import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { harnessRuntime } from '../../workers/src/wasm/harness-runtime.js';
import { compareRun } from '../src/harness/compare.js';
import { formatResult, runSuite } from '../src/harness/run-suite.js';
import type { CaseRun } from '../src/harness/runtime.js';
import { parseSuite, readSuite } from '../src/harness/suite.js';
import { compileCached } from './helpers/compile-cached.js';

describe('readSuite', () => {
  const ok = (cases: unknown[]) => ({ config: {}, cases });
  it.each([
    [{ cases: [] }, 'cases: must be a non-empty list'],
    [{ cases: 'x' }, 'cases: must be a non-empty list'],
    [{ cases: [{}], extra: 1 }, 'suite.extra: unknown field (expected one of filter, config, cases)'],
    [ok([{ name: 1 }]), 'cases[0].name: must be a string'],
    [ok([{ name: 'a', expect: { stauts: 200 } }]), 'cases[0].expect.stauts: unknown field'],
    [ok([{ name: 'a', repeat: 0 }]), 'cases[0].repeat: must be a positive integer'],
    [ok([{ name: 'a', random: [1] }]), 'cases[0].random[0]: must be in [0, 1)'],
    [ok([{ name: 'a', request: { headers: [['x']] } }]), 'cases[0].request.headers[0]: must be [name, value]'],
    [ok([{ name: 'a', request: { headers: { x: 1 } } }]), 'cases[0].request.headers.x: must be a string'],
    [ok([{ name: 'a', request: { body: 3 } }]), 'cases[0].request.body: must be a string or a list of chunks'],
    [ok([{ name: 'a', expect: { status: '200' } }]), 'cases[0].expect.status: must be a number'],
  ])('rejects %j: %s', (suite, message) => {
    expect(() => readSuite(suite)).toThrowError(message);
  });

  it('normalises headers and bodies', () => {
    const suite = readSuite({
      config: { a: 1 },
      cases: [
        {
          name: 'n',
          request: { headers: { Accept: ['a', 'b'], 'X-One': '1' }, body: 'x', client_address: '10.0.0.1' },
          response: { headers: [['Set-Cookie', 'c=1']], body: ['p', 'q'] },
          expect: { request_headers: { 'X-One': '1', 'x-none': null } },
        },
      ],
    });
    expect(suite.cases[0]).toEqual({
      name: 'n',
      config: undefined,
      request: {
        method: undefined, path: undefined, authority: undefined, clientAddress: '10.0.0.1',
        headers: [['accept', 'a'], ['accept', 'b'], ['x-one', '1']],
        body: ['x'],
      },
      response: { status: undefined, headers: [['set-cookie', 'c=1']], body: ['p', 'q'] },
      nowMs: undefined,
      random: undefined,
      repeat: 1,
      expect: { requestHeaders: { 'x-one': '1', 'x-none': null } },
    });
  });

  it('says which file is not JSON, and that YAML needs its parser', async () => {
    await expect(parseSuite('{', 'a.test.json')).rejects.toThrowError(/^a.test.json: not valid JSON/);
  });
});

describe('compareRun', () => {
  const run = (over: Partial<CaseRun> = {}): CaseRun => ({
    localReply: null,
    requestHeaders: [['x-a', '1'], ['x-b', '2'], ['x-b', '3']],
    path: '/p',
    cluster: null,
    status: 200,
    responseHeaders: [['server', 'up']],
    errors: [],
    ...over,
  });
  const reply = { status: 403, body: 'no\n', headers: [['x-why', 'because']] as Array<[string, string]> };

  it.each([
    ['all matching', run(), { status: 200, requestHeaders: { 'x-a': '1', 'x-b': ['2', '3'], 'x-c': null } }, []],
    ['a wrong value', run(), { requestHeaders: { 'x-a': '2' } }, ['request header x-a: expected "2", got "1"']],
    ['a missing header', run(), { responseHeaders: { 'x-c': 'v' } }, ['response header x-c: expected "v", got absent']],
    ['a header that should be absent', run(), { requestHeaders: { 'x-a': null } }, ['request header x-a: expected absent, got ["1"]']],
    ['all values, in order', run(), { requestHeaders: { 'x-b': ['3', '2'] } }, ['request header x-b: expected ["3","2"], got ["2","3"]']],
    ['an unexpected reply', run({ localReply: reply, status: 403 }), {}, ['unexpected local reply 403 "no\\n"']],
    ['a reply expected by status', run({ localReply: reply, status: 403 }), { status: 403 }, []],
    ['a missing reply', run(), { localReply: { status: 403 } }, ['expected a local reply, the request was forwarded']],
    [
      'a different reply',
      run({ localReply: reply, status: 403 }),
      { localReply: { status: 401, body: 'x', headers: { 'x-why': 'because' } } },
      ['local reply status: expected 401, got 403', 'local reply body: expected "x", got "no\\n"'],
    ],
    ['an unexpected failure', run({ errors: ['trap: unreachable'] }), {}, ['filter failed: trap: unreachable']],
    ['an expected failure', run({ errors: ['trap: unreachable'], status: 500 }), { error: 'unreachable', status: 500 }, []],
    ['a missing failure', run(), { error: 'boom' }, ['expected a filter error containing "boom", got none']],
    ['path and cluster', run({ cluster: 'b' }), { path: '/q', cluster: null }, ['path: expected "/q", got "/p"', 'cluster: expected null, got "b"']],
  ])('%s', (_what, actual, expectation, failures) => {
    expect(compareRun(actual, expectation, [], {})).toEqual(failures);
  });

  it('checks logs and metrics', () => {
    expect(compareRun(run(), { logs: ['saw GET'], metrics: { calls: 2, other: 1 } }, ['info: saw GET /'], { calls: 1 })).toEqual([
      'metric calls: expected 2, got 1',
      'metric other: expected 1, got nothing',
    ]);
    expect(compareRun(run(), { logs: ['saw POST'] }, ['info: saw GET /'], {})).toEqual([
      'no log line contains "saw POST" (logged: ["info: saw GET /"])',
    ]);
  });
});

describe('runSuite on the host runtime', () => {
  let module: WebAssembly.Module;
  beforeAll(async () => {
    module = new WebAssembly.Module(await compileCached(fileURLToPath(new URL('./fixtures/echo.ts', import.meta.url))));
  });

  it('drives requests through the filter with the suite clock, random numbers and config', () => {
    const suite = readSuite({
      config: { greeting: 'hello' },
      cases: [
        {
          name: 'clock and random are the suite\'s',
          now_ms: 1234,
          random: [0.25],
          request: { method: 'PUT', path: '/x' },
          response: { status: 201 },
          expect: {
            request_headers: { 'x-greeting': 'hello', 'x-now': '1234.0', 'x-random': '0.25' },
            response_headers: { 'x-echo-status': '201' },
            status: 201,
            logs: ['info: saw PUT /x'],
            metrics: { calls: 1 },
          },
        },
        {
          name: 'the clock carries on, a case config gets its own instance',
          config: { greeting: 'yo' },
          repeat: 3,
          expect: { request_headers: { 'x-greeting': 'yo', 'x-now': '1234.0' }, metrics: { calls: 3 } },
        },
        {
          name: 'a local reply passes back through the response hooks',
          request: { headers: { 'x-deny': '1' } },
          expect: {
            local_reply: { status: 451, body: 'no\n', headers: { 'x-why': 'asked' } },
            status: 451,
            response_headers: { 'x-why': 'asked', 'x-echo-status': '451' },
            metrics: { calls: 2 },
          },
        },
        {
          name: 'a case may give the client a verified identity',
          request: { client_identity: 'spiffe://cluster.local/ns/default/sa/web' },
          expect: { request_headers: { 'x-client-identity': 'spiffe://cluster.local/ns/default/sa/web' }, metrics: { calls: 3 } },
        },
        { name: 'without one the identity is empty', expect: { request_headers: { 'x-client-identity': null }, metrics: { calls: 4 } } },
        { name: 'a trap is a 500 the case can expect', request: { headers: { 'x-crash': '1' } }, expect: { status: 500, error: 'unreachable' } },
        { name: 'a bad config fails the case that uses it', config: { greeting: 7 }, expect: { status: 200 } },
        { name: 'wrong on purpose', expect: { request_headers: { 'x-greeting': 'bye' } } },
      ],
    });
    const result = runSuite(suite, module, harnessRuntime);
    expect(result.cases.map((c) => c.failures.length)).toEqual([0, 0, 0, 0, 0, 0, 1, 1]);
    expect(result.cases[6]!.failures[0]).toMatch(
      /^the filter failed to start: config: config 'greeting' must be a string, not a number at \S+json\.ts:\d+:\d+$/,
    );
    expect(result.cases[7]!.failures).toEqual(['request header x-greeting: expected "bye", got "hello"']);
    expect(formatResult('echo', result).split('\n')).toEqual([
      '# echo',
      "ok 1 - clock and random are the suite's",
      'ok 2 - the clock carries on, a case config gets its own instance',
      'ok 3 - a local reply passes back through the response hooks',
      'ok 4 - a case may give the client a verified identity',
      'ok 5 - without one the identity is empty',
      'ok 6 - a trap is a 500 the case can expect',
      'not ok 7 - a bad config fails the case that uses it',
      `    ${result.cases[6]!.failures[0]}`,
      'not ok 8 - wrong on purpose',
      '    request header x-greeting: expected "bye", got "hello"',
      '# 6 passed, 2 failed',
    ]);
  });
});
