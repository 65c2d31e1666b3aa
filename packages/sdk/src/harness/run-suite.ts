import { compareRun } from './compare.js';
import type { CaseRun, HarnessEnv, HarnessFilter, HarnessRuntime } from './runtime.js';
import type { FilterSuite } from './suite.js';

export interface CaseResult {
  name: string;
  ok: boolean;
  failures: string[];
}

export interface SuiteResult {
  passed: number;
  failed: number;
  cases: CaseResult[];
}

/** A fixed-seed generator, so cases that do not script `random` still run the same every time. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs every case of `suite` through `module` on `runtime`, in order. Cases share the filter (one
 * per distinct config), its metrics and the clock, so a sequence of cases can test state such as
 * a rate limit.
 */
export function runSuite(suite: FilterSuite, module: WebAssembly.Module, runtime: HarnessRuntime): SuiteResult {
  let clock = 0;
  let scripted: number[] = [];
  const fallback = seeded(1);
  let logs: string[] = [];
  const env: HarnessEnv = {
    now: () => clock,
    random: () => (scripted.length > 0 ? scripted.shift()! : fallback()),
    log: (level, message) => {
      logs.push(`${level}: ${message}`);
    },
  };
  const filters = new Map<string, HarnessFilter>();
  const results: CaseResult[] = [];
  for (const c of suite.cases) {
    if (c.nowMs !== undefined) clock = c.nowMs;
    scripted = c.random ? c.random.slice() : [];
    logs = [];
    const configJson = JSON.stringify(c.config ?? suite.config);
    let filter = filters.get(configJson);
    if (filter === undefined) {
      try {
        filter = runtime.createFilter(module, configJson, env);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        const expected = c.expect.error !== undefined && message.includes(c.expect.error);
        results.push({ name: c.name, ok: expected, failures: expected ? [] : [`the filter failed to start: ${message}`] });
        continue;
      }
      filters.set(configJson, filter);
    }
    let run: CaseRun | undefined;
    for (let i = 0; i < c.repeat; i++) run = filter.run(c.request, c.response);
    const failures = compareRun(run!, c.expect, logs, filter.metrics());
    results.push({ name: c.name, ok: failures.length === 0, failures });
  }
  const passed = results.filter((r) => r.ok).length;
  return { passed, failed: results.length - passed, cases: results };
}

/** TAP-style lines for a terminal. */
export function formatResult(title: string, result: SuiteResult): string {
  const lines = [`# ${title}`];
  result.cases.forEach((c, i) => {
    lines.push(`${c.ok ? 'ok' : 'not ok'} ${i + 1} - ${c.name}`);
    for (const failure of c.failures) lines.push(`    ${failure}`);
  });
  lines.push(`# ${result.passed} passed, ${result.failed} failed`);
  return lines.join('\n');
}
