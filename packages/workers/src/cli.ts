/**
 * The `pillion` command.
 *
 *   pillion --config FILE [--workers N] [--log-level L] [--no-watch]
 *                                                         run until SIGTERM/SIGINT, then drain and exit 0;
 *                                                         SIGHUP (and, unless --no-watch, a change to FILE) reloads it
 *   pillion validate FILE                                 check a config; exit 1 listing every problem
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, LOG_LEVELS, formatProblem, loadConfigFile, type Config } from '@pillion/core';
import { ConfigChecker } from './supervisor/config-checker.js';
import { descriptorWarning } from './supervisor/descriptor-limit.js';
import { TlsRegistry } from './supervisor/tls-registry.js';

const USAGE = `usage:
  pillion --config FILE [--workers N] [--log-level LEVEL] [--no-watch]
  pillion validate FILE
`;

export async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        workers: { type: 'string' },
        'log-level': { type: 'string' },
        'no-watch': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = args;
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (positionals[0] === 'validate') {
    const file = positionals[1] ?? values.config;
    if (!file) {
      process.stderr.write(USAGE);
      return 2;
    }
    return validate(file);
  }
  if (positionals.length || !values.config) {
    process.stderr.write(USAGE);
    return 2;
  }

  // Checked in a thread of its own, so the proxy's main thread never loads the schema (see ConfigChecker).
  const checker = new ConfigChecker();
  let config: Config;
  try {
    config = await loadChecked(checker, values.config);
    config = applyOverrides(config, values.workers, values['log-level']);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`pillion: invalid configuration: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    await checker.close();
  }

  // Loaded only to run: `validate` should not pay for threads, metrics and uWS.
  const { Supervisor } = await import('./supervisor/supervisor.js');
  const { UwsNotNativeError } = await import('./uws.js');
  const workers = values.workers;
  const level = values['log-level'];
  const supervisor = new Supervisor({
    config,
    source: values.config,
    checker,
    faults: process.env.PILLION_TEST_FAULTS === '1',
    // The command line's overrides hold for reloaded configs too.
    reload: { file: values.config, watch: !values['no-watch'], transform: (c) => applyOverrides(c, workers, level) },
  });
  const onSignal = (signal: string) => void supervisor.drain(signal);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP re-reads the config file; an invalid one is logged and the running config kept.
  process.on('SIGHUP', () => void supervisor.reload('SIGHUP'));
  const fds = descriptorWarning(config);
  if (fds) supervisor.log.warn({ limit: fds.limit, need: fds.budget.total }, fds.message);
  try {
    await supervisor.start();
  } catch (e) {
    const msg = e instanceof UwsNotNativeError ? e.message : `could not start: ${(e as Error).message}`;
    supervisor.log.fatal(msg);
    process.stderr.write(`pillion: ${msg}\n`);
    return 1;
  }
  return await new Promise<number>((resolve) => {
    const wait = setInterval(() => {
      const d = supervisor.drained;
      if (d) {
        clearInterval(wait);
        d.then(resolve);
      }
    }, 20);
  });
}

/** Like loadConfigFile, with the checking done by `checker`'s thread. */
async function loadChecked(checker: ConfigChecker, file: string): Promise<Config> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([{ path: '', message: `cannot read ${file}: ${(e as Error).message}` }], file);
  }
  const r = await checker.config(text);
  if (!r.ok) throw new ConfigError(r.problems, file);
  return r.config;
}

function validate(file: string): number {
  try {
    const config = loadConfigFile(file);
    // Certificate, key and CA files: they exist, parse, and each key matches its certificate.
    const tls = new TlsRegistry(dirname(resolve(file)));
    const files = tls.build(config);
    tls.close();
    if (!files.ok) throw new ConfigError(files.problems, file);
    process.stdout.write(`${file}: ok\n`);
    // A warning, not a problem: the limit is the machine's, and the proxy runs under it.
    const fds = descriptorWarning(config);
    if (fds) process.stderr.write(`${file}: warning: ${fds.message}\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`${file}: ${e.problems.length} problem${e.problems.length === 1 ? '' : 's'}\n`);
    for (const p of e.problems) process.stderr.write(`${formatProblem(p)}\n`);
    return 1;
  }
}

function applyOverrides(config: Config, workers: string | undefined, level: string | undefined): Config {
  const problems = [];
  let out = config;
  if (workers !== undefined) {
    const n = workers === 'auto' ? 'auto' : Number(workers);
    if (n !== 'auto' && (!Number.isInteger(n) || n < 1 || n > 256)) problems.push({ path: '--workers', message: 'must be "auto" or an integer from 1 to 256' });
    else out = { ...out, workers: n };
  }
  if (level !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(level)) problems.push({ path: '--log-level', message: `must be one of ${LOG_LEVELS.join(', ')}` });
    else out = { ...out, log: { level: level as Config['log']['level'] } };
  }
  if (problems.length) throw new ConfigError(problems);
  return out;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Flush pino's buffers, then leave even if a stray handle remains.
    setTimeout(() => process.exit(code), 50).unref();
  },
  (e) => {
    process.stderr.write(`pillion: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
