import type { Expectation, HeaderExpectation } from './suite.js';
import type { CaseRun, HeaderPairs } from './runtime.js';

const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

function checkHeaders(where: string, actual: HeaderPairs, expected: HeaderExpectation, failures: string[]): void {
  for (const [name, want] of Object.entries(expected)) {
    const values = actual.filter(([n]) => n === name).map(([, v]) => v);
    if (want === null) {
      if (values.length > 0) failures.push(`${where} ${name}: expected absent, got ${show(values)}`);
    } else if (Array.isArray(want)) {
      if (values.join('\n') !== want.join('\n') || values.length !== want.length) {
        failures.push(`${where} ${name}: expected ${show(want)}, got ${show(values)}`);
      }
    } else if (values[0] !== want) {
      failures.push(`${where} ${name}: expected ${show(want)}, got ${values.length ? show(values[0]) : 'absent'}`);
    }
  }
}

/** Everything in `run` that differs from `expect`; empty when the case passes. */
export function compareRun(run: CaseRun, expect: Expectation, logs: readonly string[], metrics: Record<string, number>): string[] {
  const failures: string[] = [];
  if (expect.error !== undefined) {
    if (!run.errors.some((e) => e.includes(expect.error!))) {
      failures.push(`expected a filter error containing ${show(expect.error)}, got ${run.errors.length ? show(run.errors) : 'none'}`);
    }
  } else {
    for (const error of run.errors) failures.push(`filter failed: ${error}`);
  }
  if (expect.status !== undefined && run.status !== expect.status) {
    failures.push(`status: expected ${expect.status}, got ${run.status}`);
  }
  const reply = run.localReply;
  if (expect.localReply !== undefined) {
    if (reply === null) failures.push('expected a local reply, the request was forwarded');
    else {
      const want = expect.localReply;
      if (want.status !== undefined && reply.status !== want.status) {
        failures.push(`local reply status: expected ${want.status}, got ${reply.status}`);
      }
      if (want.body !== undefined && reply.body !== want.body) {
        failures.push(`local reply body: expected ${show(want.body)}, got ${show(reply.body)}`);
      }
      if (want.headers) checkHeaders('local reply header', reply.headers, want.headers, failures);
    }
  } else if (reply !== null && expect.status === undefined && expect.error === undefined) {
    failures.push(`unexpected local reply ${reply.status} ${show(reply.body)}`);
  }
  if (expect.requestHeaders) checkHeaders('request header', run.requestHeaders, expect.requestHeaders, failures);
  if (expect.responseHeaders) checkHeaders('response header', run.responseHeaders, expect.responseHeaders, failures);
  if (expect.path !== undefined && run.path !== expect.path) {
    failures.push(`path: expected ${show(expect.path)}, got ${show(run.path)}`);
  }
  if (expect.cluster !== undefined && run.cluster !== expect.cluster) {
    failures.push(`cluster: expected ${show(expect.cluster)}, got ${show(run.cluster)}`);
  }
  for (const text of expect.logs ?? []) {
    if (!logs.some((line) => line.includes(text))) failures.push(`no log line contains ${show(text)} (logged: ${show(logs)})`);
  }
  for (const [name, value] of Object.entries(expect.metrics ?? {})) {
    if (metrics[name] !== value) failures.push(`metric ${name}: expected ${value}, got ${show(metrics[name])}`);
  }
  return failures;
}
