import type { HeaderPairs, RequestSpec, ResponseSpec } from './runtime.js';

/**
 * A test suite file: a filter, its config, and requests with what should happen to them.
 *
 *   { "config": { ... },
 *     "cases": [ { "name": "...", "request": { "headers": { "x-a": "1" } },
 *                  "expect": { "request_headers": { "x-hello": "world" } } } ] }
 */
export interface FilterSuite {
  /** The .wasm to test, relative to the suite file (default: the build output). */
  filter?: string;
  config: unknown;
  cases: RequestCase[];
}

export interface RequestCase {
  name: string;
  /** Runs the filter with this config instead of the suite's. */
  config?: unknown;
  request: RequestSpec;
  response: ResponseSpec;
  /** The host clock for this case (ms); later cases continue from it. */
  nowMs?: number;
  /** Numbers the host's random source returns, in order. */
  random?: number[];
  /** Sends the request this many times; the expectations apply to the last. */
  repeat: number;
  expect: Expectation;
}

/** A header expectation: a value, every value in order, or null for absent. */
export type HeaderExpectation = Record<string, string | string[] | null>;

export interface Expectation {
  /** What the client gets. */
  status?: number;
  localReply?: { status?: number; body?: string; headers?: HeaderExpectation };
  requestHeaders?: HeaderExpectation;
  responseHeaders?: HeaderExpectation;
  path?: string;
  /** The cluster a filter picked; null: none did. */
  cluster?: string | null;
  /** A filter failure whose message contains this text (without it, any failure fails the case). */
  error?: string;
  /** Text that some log line contains. */
  logs?: string[];
  /** Counter and gauge values after the case. */
  metrics?: Record<string, number>;
}

export class SuiteError extends Error {
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'SuiteError';
  }
}

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: Json, at: string, allowed: readonly string[]): Record<string, Json> {
  if (!isObject(v)) throw new SuiteError(at, 'must be an object');
  for (const key of Object.keys(v)) {
    if (!allowed.includes(key)) throw new SuiteError(`${at}.${key}`, `unknown field (expected one of ${allowed.join(', ')})`);
  }
  return v;
}

function str(v: Json, at: string): string {
  if (typeof v !== 'string') throw new SuiteError(at, 'must be a string');
  return v;
}

function num(v: Json, at: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new SuiteError(at, 'must be a number');
  return v;
}

function optional<T>(v: Json, read: (v: Json) => T): T | undefined {
  return v === undefined ? undefined : read(v);
}

/** Headers as `{ name: value | [values] }` or `[[name, value], ...]`; names lower-cased. */
function headerPairs(v: Json, at: string): HeaderPairs {
  const out: HeaderPairs = [];
  if (Array.isArray(v)) {
    v.forEach((pair, i) => {
      if (!Array.isArray(pair) || pair.length !== 2) throw new SuiteError(`${at}[${i}]`, 'must be [name, value]');
      out.push([str(pair[0], `${at}[${i}][0]`).toLowerCase(), str(pair[1], `${at}[${i}][1]`)]);
    });
    return out;
  }
  for (const [name, value] of Object.entries(obj(v, at, Object.keys(isObject(v) ? v : {})))) {
    const values = Array.isArray(value) ? value : [value];
    values.forEach((one, i) => out.push([name.toLowerCase(), str(one, Array.isArray(value) ? `${at}.${name}[${i}]` : `${at}.${name}`)]));
  }
  return out;
}

function headerExpectation(v: Json, at: string): HeaderExpectation {
  const out: HeaderExpectation = {};
  for (const [name, value] of Object.entries(obj(v, at, Object.keys(isObject(v) ? v : {})))) {
    if (value === null) out[name.toLowerCase()] = null;
    else if (Array.isArray(value)) out[name.toLowerCase()] = value.map((one, i) => str(one, `${at}.${name}[${i}]`));
    else out[name.toLowerCase()] = str(value, `${at}.${name}`);
  }
  return out;
}

function body(v: Json, at: string): string[] | undefined {
  if (v === undefined) return undefined;
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v)) throw new SuiteError(at, 'must be a string or a list of chunks');
  return v.map((chunk, i) => str(chunk, `${at}[${i}]`));
}

function request(v: Json, at: string): RequestSpec {
  const r = obj(v ?? {}, at, ['method', 'path', 'authority', 'client_address', 'client_identity', 'headers', 'body']);
  return {
    method: optional(r.method, (x) => str(x, `${at}.method`)),
    path: optional(r.path, (x) => str(x, `${at}.path`)),
    authority: optional(r.authority, (x) => str(x, `${at}.authority`)),
    clientAddress: optional(r.client_address, (x) => str(x, `${at}.client_address`)),
    clientIdentity: optional(r.client_identity, (x) => str(x, `${at}.client_identity`)),
    headers: optional(r.headers, (x) => headerPairs(x, `${at}.headers`)),
    body: body(r.body, `${at}.body`),
  };
}

function response(v: Json, at: string): ResponseSpec {
  const r = obj(v ?? {}, at, ['status', 'headers', 'body']);
  return {
    status: optional(r.status, (x) => num(x, `${at}.status`)),
    headers: optional(r.headers, (x) => headerPairs(x, `${at}.headers`)),
    body: body(r.body, `${at}.body`),
  };
}

function expectation(v: Json, at: string): Expectation {
  const e = obj(v ?? {}, at, [
    'status', 'local_reply', 'request_headers', 'response_headers', 'path', 'cluster', 'error', 'logs', 'metrics',
  ]);
  const out: Expectation = {};
  if (e.status !== undefined) out.status = num(e.status, `${at}.status`);
  if (e.local_reply !== undefined) {
    const r = obj(e.local_reply, `${at}.local_reply`, ['status', 'body', 'headers']);
    out.localReply = {
      status: optional(r.status, (x) => num(x, `${at}.local_reply.status`)),
      body: optional(r.body, (x) => str(x, `${at}.local_reply.body`)),
      headers: optional(r.headers, (x) => headerExpectation(x, `${at}.local_reply.headers`)),
    };
  }
  if (e.request_headers !== undefined) out.requestHeaders = headerExpectation(e.request_headers, `${at}.request_headers`);
  if (e.response_headers !== undefined) out.responseHeaders = headerExpectation(e.response_headers, `${at}.response_headers`);
  if (e.path !== undefined) out.path = str(e.path, `${at}.path`);
  if (e.cluster !== undefined) out.cluster = e.cluster === null ? null : str(e.cluster, `${at}.cluster`);
  if (e.error !== undefined) out.error = str(e.error, `${at}.error`);
  if (e.logs !== undefined) {
    if (!Array.isArray(e.logs)) throw new SuiteError(`${at}.logs`, 'must be a list of strings');
    out.logs = e.logs.map((line, i) => str(line, `${at}.logs[${i}]`));
  }
  if (e.metrics !== undefined) {
    out.metrics = {};
    for (const [name, value] of Object.entries(obj(e.metrics, `${at}.metrics`, Object.keys(e.metrics as object)))) {
      out.metrics[name] = num(value, `${at}.metrics.${name}`);
    }
  }
  return out;
}

/** Checks a parsed suite file and normalises it; errors name the field (`cases[2].expect.status`). */
export function readSuite(data: Json): FilterSuite {
  const s = obj(data, 'suite', ['filter', 'config', 'cases']);
  if (!Array.isArray(s.cases) || s.cases.length === 0) throw new SuiteError('cases', 'must be a non-empty list');
  const cases = s.cases.map((raw, i): RequestCase => {
    const at = `cases[${i}]`;
    const c = obj(raw, at, ['name', 'config', 'request', 'response', 'now_ms', 'random', 'repeat', 'expect']);
    const repeat = c.repeat === undefined ? 1 : num(c.repeat, `${at}.repeat`);
    if (!Number.isInteger(repeat) || repeat < 1) throw new SuiteError(`${at}.repeat`, 'must be a positive integer');
    let random: number[] | undefined;
    if (c.random !== undefined) {
      if (!Array.isArray(c.random)) throw new SuiteError(`${at}.random`, 'must be a list of numbers in [0, 1)');
      random = c.random.map((x, j) => {
        const n = num(x, `${at}.random[${j}]`);
        if (n < 0 || n >= 1) throw new SuiteError(`${at}.random[${j}]`, 'must be in [0, 1)');
        return n;
      });
    }
    return {
      name: str(c.name, `${at}.name`),
      config: c.config,
      request: request(c.request, `${at}.request`),
      response: response(c.response, `${at}.response`),
      nowMs: optional(c.now_ms, (x) => num(x, `${at}.now_ms`)),
      random,
      repeat,
      expect: expectation(c.expect, `${at}.expect`),
    };
  });
  return { filter: optional(s.filter, (x) => str(x, 'filter')), config: s.config ?? {}, cases };
}

/** Parses suite text: JSON, or YAML when the `yaml` package is installed. */
export async function parseSuite(text: string, fileName: string): Promise<FilterSuite> {
  let data: Json;
  if (/\.ya?ml$/i.test(fileName)) {
    let yaml: { parse(text: string): unknown };
    try {
      yaml = (await import('yaml' as string)) as { parse(text: string): unknown };
    } catch {
      throw new SuiteError(fileName, 'YAML suites need the yaml package installed; use a .json suite');
    }
    data = yaml.parse(text);
  } else {
    try {
      data = JSON.parse(text);
    } catch (error) {
      throw new SuiteError(fileName, `not valid JSON: ${(error as Error).message}`);
    }
  }
  return readSuite(data);
}
