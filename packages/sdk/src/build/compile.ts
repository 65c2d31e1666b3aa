import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { SDK_ROOT } from '../sdk-root.js';

export interface CompileOptions {
  /** The filter's entry file (calls `register(new MyFilter())`). */
  entry: string;
  /** Where the .wasm goes. */
  outFile: string;
  /** Also write the text format here. */
  textFile?: string;
  /** Unoptimised, with debug names; for stepping through a failing filter. */
  debug?: boolean;
  /**
   * Add the SDK's hook exports (default). Off only for a module that implements the ABI by hand
   * and exports its own hooks.
   */
  sdkHooks?: boolean;
  /** More asc flags, after the SDK's (e.g. `--use`, `--maximumMemory`). */
  ascFlags?: readonly string[];
}

export interface CompileResult {
  ok: boolean;
  /** Compiler diagnostics (warnings and errors), as asc prints them. */
  diagnostics: string;
}

/**
 * The flags every filter is built with; the host relies on each:
 * - incremental runtime: frees garbage as it goes (the stub runtime never frees, so an instance
 *   serving requests would grow without end)
 * - exportStart: top-level code runs when the host calls _start, after it can read the
 *   instance's memory (a filter may define metrics at top level)
 * - -O2: fast code without the long -O3 build
 */
export const FILTER_FLAGS: readonly string[] = ['--runtime', 'incremental', '--exportStart', '_start'];
const RELEASE_FLAGS = ['-O2'];
const DEBUG_FLAGS = ['--debug'];

/** Entry name of the generated file that re-exports the SDK's hooks. */
const HOOKS_ENTRY = '__pillion_hooks__';
const HOOKS_SOURCE = 'export * from "@pillion/sdk/assembly/exports";\n';
/** A package folder asc is told to search; reads under it are served from the SDK itself. */
const VIRTUAL_PACKAGES = path.join(SDK_ROOT, '.pillion-packages');
const SDK_PACKAGE = /[\\/](?:node_modules|\.pillion-packages)[\\/]@pillion[\\/]sdk[\\/](.+)$/;

/**
 * Compiles a filter. The SDK's hook exports are added as a second entry, and every
 * `@pillion/sdk/...` import resolves to this SDK, wherever the project lives, so the library a
 * filter is built against always matches the ABI this SDK's host speaks.
 */
export async function compileFilter(options: CompileOptions): Promise<CompileResult> {
  const baseDir = path.dirname(path.resolve(options.entry));
  const entry = path.basename(options.entry);
  const argv = [
    entry,
    ...(options.sdkHooks === false ? [] : [HOOKS_ENTRY]),
    '--baseDir',
    baseDir,
    '--outFile',
    path.resolve(options.outFile),
    '--path',
    VIRTUAL_PACKAGES,
    ...FILTER_FLAGS,
    ...(options.debug ? DEBUG_FLAGS : RELEASE_FLAGS),
  ];
  if (options.textFile) argv.push('--textFile', path.resolve(options.textFile));
  if (options.ascFlags) argv.push(...options.ascFlags);
  let diagnostics = '';
  const sink = {
    write(chunk: Uint8Array | string): void {
      diagnostics += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    },
  };
  // Loaded on first use: the compiler is large, and only builds need it.
  const { default: asc } = await import('assemblyscript/asc');
  const result = await asc.main(argv, {
    stdout: sink,
    stderr: sink,
    readFile: (filename: string, dir: string) => readSource(filename, dir, baseDir),
  });
  return { ok: result.error === null, diagnostics };
}

async function readSource(filename: string, dir: string, baseDir: string): Promise<string | null> {
  const full = path.resolve(dir, filename);
  if (full === path.join(baseDir, `${HOOKS_ENTRY}.ts`)) return HOOKS_SOURCE;
  const sdk = SDK_PACKAGE.exec(full);
  const target = sdk ? path.join(SDK_ROOT, sdk[1]!) : full;
  try {
    return await readFile(target, 'utf8');
  } catch {
    return null;
  }
}
