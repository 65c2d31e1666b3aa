/**
 * Turning untrusted input (a parsed YAML/JSON document) into a `Config`, or into the complete list of
 * problems with it. Nothing half-valid ever comes out of here.
 */
import type { core } from 'zod';
import { configSchema, type Config } from './schema.js';
import { ConfigError, formatPath, type ConfigProblem } from './errors.js';

export type ValidationResult = { ok: true; config: Config } | { ok: false; problems: ConfigProblem[] };

export function validateConfig(doc: unknown): ValidationResult {
  const parsed = configSchema().safeParse(doc);
  if (!parsed.success) return { ok: false, problems: toConfigProblems(parsed.error.issues) };
  return { ok: true, config: parsed.data };
}

/** Like validateConfig but throws a ConfigError listing every problem. */
export function parseConfig(doc: unknown, source?: string): Config {
  const r = validateConfig(doc);
  if (!r.ok) throw new ConfigError(r.problems, source);
  return r.config;
}

/**
 * Schema issues as config problems, in the words an operator reads. `prefix` goes before every issue's
 * path, for a schema applied to one part of a larger document (an item of a request body, one field).
 */
export function toConfigProblems(issues: readonly core.$ZodIssue[], prefix: readonly PropertyKey[] = []): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of issues) {
    const path = formatPath(prefix.length ? [...prefix, ...issue.path] : issue.path);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: path ? `${path}.${key}` : key, message: 'unknown field' });
      continue;
    }
    out.push({ path, message: describe(issue) });
  }
  return out;
}

function describe(issue: core.$ZodIssue): string {
  if (issue.code === 'invalid_type') {
    const got = /received (\w+)/.exec(issue.message)?.[1];
    if (got === 'undefined') return 'is required';
    if (!issue.message.startsWith('Invalid input')) return issue.message;
    return `must be ${article(issue.expected)}${got ? ` (got ${got})` : ''}`;
  }
  if (issue.code === 'too_small' && issue.origin === 'array' && issue.message.startsWith('Too small')) {
    return `must have at least ${issue.minimum} item${Number(issue.minimum) === 1 ? '' : 's'}`;
  }
  if (issue.code === 'invalid_value' && issue.message.startsWith('Invalid')) {
    return `must be ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}`;
  }
  return issue.message;
}

function article(t: string): string {
  return /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`;
}
