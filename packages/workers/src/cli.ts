/**
 * The `pillion` command.
 *
 *   pillion --config FILE [--workers N] [--log-level L] [--no-watch]
 *                                                         run until SIGTERM/SIGINT, then drain and exit 0;
 *                                                         SIGHUP (and, unless --no-watch, a change to FILE) reloads it
 *   pillion validate FILE                                 check a config; exit 1 listing every problem
 */
import { parseArgs } from 'node:util';
import { ConfigError, LOG_LEVELS, formatProblem, loadConfigFile, type Config } from '@pillion/core';

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

  let config: Config;
  try {
    config = loadConfigFile(values.config);
    config = applyOverrides(config, values.workers, values['log-level']);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`pillion: invalid configuration: ${e.message}\n`);
      return 1;
    }
    throw e;
  }

  // Loaded only to run: `validate` should not pay for threads, metrics and uWS.
  const { Supervisor } = await import('./supervisor/supervisor.js');
  const { UwsNotNativeError } = await import('./uws.js');
  const workers = values.workers;
  const level = values['log-level'];
  const supervisor = new Supervisor({
    config,
    source: values.config,
    faults: process.env.PILLION_TEST_FAULTS === '1',
    // The command line's overrides hold for reloaded configs too.
    reload: { file: values.config, watch: !values['no-watch'], transform: (c) => applyOverrides(c, workers, level) },
  });
  const onSignal = (signal: string) => void supervisor.drain(signal);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // SIGHUP re-reads the config file; an invalid one is logged and the running config kept.
  process.on('SIGHUP', () => void supervisor.reload('SIGHUP'));
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

function validate(file: string): number {
  try {
    loadConfigFile(file);
    process.stdout.write(`${file}: ok\n`);
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
