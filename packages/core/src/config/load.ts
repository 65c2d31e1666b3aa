/** Reading a configuration file from disk: YAML or JSON, chosen by content, validated in full. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { ConfigError, type ConfigProblem } from './errors.js';
import { validateConfig, type ValidationResult } from './validate.js';

let yaml: typeof Yaml | undefined;

/** Parses text as YAML (a superset of JSON), reporting syntax errors with line numbers. */
export function parseConfigText(text: string): { ok: true; doc: unknown } | { ok: false; problems: ConfigProblem[] } {
  // Loaded on first use: only the thread that reads config files (the supervisor) needs a YAML parser.
  yaml ??= createRequire(import.meta.url)('yaml') as typeof Yaml;
  const doc = yaml.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length) {
    return { ok: false, problems: doc.errors.map((e) => ({ path: '', message: `syntax: ${e.message.split('\n')[0]}` })) };
  }
  return { ok: true, doc: doc.toJS() ?? {} };
}

export function validateConfigText(text: string): ValidationResult {
  const parsed = parseConfigText(text);
  if (!parsed.ok) return parsed;
  return validateConfig(parsed.doc);
}

/** Loads and validates a config file; throws ConfigError with every problem. */
export function loadConfigFile(file: string) {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([{ path: '', message: `cannot read ${file}: ${(e as Error).message}` }], file);
  }
  const r = validateConfigText(text);
  if (!r.ok) throw new ConfigError(r.problems, file);
  return r.config;
}
