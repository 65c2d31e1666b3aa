import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { abiMarkdown } from '../abi-markdown.js';
import { checkAgainstAbi } from '../abi-check.js';
import { compileFilter } from '../build/compile.js';
import { loadHarnessRuntime } from '../harness/load-runtime.js';
import { formatResult, runSuite } from '../harness/run-suite.js';
import { parseSuite } from '../harness/suite.js';
import type { HarnessRuntime } from '../harness/runtime.js';
import { readSignatures } from '../wasm-signatures.js';
import { scaffold } from './scaffold.js';

export interface CliOptions {
  /** Directory the command runs in. */
  cwd: string;
  out: (text: string) => void;
  err: (text: string) => void;
  /** The host runtime `test` runs filters on (default: the proxy's, found next to the SDK). */
  runtime: () => Promise<HarnessRuntime>;
}

const USAGE = `usage: pillion-sdk <command>

  new NAME               create a filter project in ./NAME (a working filter and its test)
  build [ENTRY] [-o OUT] [--debug] [-- ASC_FLAGS...]
                         compile ENTRY (assembly/index.ts) to OUT (build/filter.wasm)
  test [SUITE...] [--wasm FILE]
                         run the request suites (test/*.test.json) against the built filter
  abi                    print the host ABI
`;

const DEFAULT_ENTRY = 'assembly/index.ts';
const DEFAULT_OUT = 'build/filter.wasm';
const SUITE_FILE = /\.test\.(json|ya?ml)$/;

class UsageError extends Error {}

/** Splits `args` into positionals and `--flag value` options (`--debug` takes no value). */
function parseArgs(args: string[], withValue: readonly string[], aliases: Record<string, string> = {}) {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('-')) {
      positional.push(arg);
      continue;
    }
    const name = aliases[arg] ?? arg.replace(/^--?/, '');
    if (withValue.includes(name)) {
      const value = args[++i];
      if (value === undefined) throw new UsageError(`${arg} needs a value`);
      flags[name] = value;
    } else flags[name] = true;
  }
  return { positional, flags };
}

async function build(args: string[], o: CliOptions): Promise<number> {
  const split = args.indexOf('--');
  const ascFlags = split === -1 ? [] : args.slice(split + 1);
  const { positional, flags } = parseArgs(split === -1 ? args : args.slice(0, split), ['out'], { '-o': 'out' });
  const entry = path.resolve(o.cwd, positional[0] ?? DEFAULT_ENTRY);
  const outFile = path.resolve(o.cwd, typeof flags.out === 'string' ? flags.out : DEFAULT_OUT);
  const started = Date.now();
  const result = await compileFilter({ entry, outFile, debug: flags.debug === true, ascFlags });
  if (result.diagnostics.trim()) o.err(result.diagnostics.trimEnd());
  if (!result.ok) return 1;
  const bytes = await readFile(outFile);
  const problems = checkAgainstAbi(readSignatures(bytes));
  for (const problem of problems) o.err(`${path.relative(o.cwd, outFile)} ${problem}`);
  if (problems.length > 0) return 1;
  o.out(`built ${path.relative(o.cwd, outFile)} (${bytes.length} bytes) in ${Date.now() - started} ms`);
  return 0;
}

async function suiteFiles(args: string[], cwd: string): Promise<string[]> {
  if (args.length > 0) return args.map((a) => path.resolve(cwd, a));
  const dir = path.join(cwd, 'test');
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.filter((n) => SUITE_FILE.test(n)).sort().map((n) => path.join(dir, n));
}

async function test(args: string[], o: CliOptions): Promise<number> {
  const { positional, flags } = parseArgs(args, ['wasm']);
  const suites = await suiteFiles(positional, o.cwd);
  if (suites.length === 0) throw new UsageError('no suites: pass files, or put *.test.json files in ./test');
  const runtime = await o.runtime();
  let failed = 0;
  for (const file of suites) {
    const suite = await parseSuite(await readFile(file, 'utf8'), file);
    const wasm =
      typeof flags.wasm === 'string'
        ? path.resolve(o.cwd, flags.wasm)
        : suite.filter !== undefined
          ? path.resolve(path.dirname(file), suite.filter)
          : path.resolve(o.cwd, DEFAULT_OUT);
    const bytes = await readFile(wasm).catch(() => {
      throw new UsageError(`${path.relative(o.cwd, wasm)} not found: run pillion-sdk build first`);
    });
    const result = runSuite(suite, new WebAssembly.Module(bytes), runtime);
    failed += result.failed;
    o.out(formatResult(path.relative(o.cwd, file), result));
  }
  return failed === 0 ? 0 : 1;
}

/** Runs one command; returns the process exit code. */
export async function runCli(argv: string[], options: Partial<CliOptions> = {}): Promise<number> {
  const o: CliOptions = {
    cwd: options.cwd ?? process.cwd(),
    out: options.out ?? ((text) => process.stdout.write(`${text}\n`)),
    err: options.err ?? ((text) => process.stderr.write(`${text}\n`)),
    runtime: options.runtime ?? loadHarnessRuntime,
  };
  const [command, ...args] = argv;
  try {
    switch (command) {
      case 'new': {
        if (args.length !== 1) throw new UsageError('usage: pillion-sdk new NAME');
        const dir = await scaffold(args[0]!, o.cwd);
        const rel = path.relative(o.cwd, dir);
        o.out(`created ${rel}\nnext: cd ${rel} && npx pillion-sdk build && npx pillion-sdk test`);
        return 0;
      }
      case 'build':
        return await build(args, o);
      case 'test':
        return await test(args, o);
      case 'abi':
        o.out(abiMarkdown());
        return 0;
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        o.out(USAGE);
        return command === undefined ? 1 : 0;
      default:
        throw new UsageError(`unknown command ${command}\n\n${USAGE}`);
    }
  } catch (error) {
    o.err(error instanceof Error ? `pillion-sdk: ${error.message}` : String(error));
    return error instanceof UsageError ? 2 : 1;
  }
}

