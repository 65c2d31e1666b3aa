import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FILTER_FLAGS, compileFilter } from '../../src/build/compile.js';

const SDK_ASSEMBLY = fileURLToPath(new URL('../../assembly/', import.meta.url));
const CACHE = path.join(tmpdir(), 'pillion-wasm-test-builds');

export interface CachedCompileOptions {
  sdkHooks?: boolean;
  ascFlags?: readonly string[];
}

/** Hash of everything a build depends on, so an unchanged filter compiles once per machine. */
async function buildKey(entry: string, options: CachedCompileOptions): Promise<string> {
  const hash = createHash('sha256')
    .update(await readFile(entry))
    .update(JSON.stringify([FILTER_FLAGS, options.sdkHooks ?? true, options.ascFlags ?? []]));
  for (const file of (await readdir(SDK_ASSEMBLY)).sort()) {
    if (file.endsWith('.ts')) hash.update(file).update(await readFile(path.join(SDK_ASSEMBLY, file)));
  }
  return hash.digest('hex').slice(0, 24);
}

/**
 * Compiles `entry` with the SDK's build and returns the .wasm bytes. Test builds are cached in
 * the temp dir by content: the compiler takes seconds, a cached build milliseconds.
 */
export async function compileCached(entry: string, options: CachedCompileOptions = {}): Promise<Uint8Array> {
  const out = path.join(CACHE, `${path.basename(entry, '.ts')}-${await buildKey(entry, options)}.wasm`);
  try {
    return await readFile(out);
  } catch {
    await mkdir(CACHE, { recursive: true });
    const partial = `${out}.${process.pid}.tmp`;
    const result = await compileFilter({ entry, outFile: partial, sdkHooks: options.sdkHooks, ascFlags: options.ascFlags });
    if (!result.ok) throw new Error(`${entry} did not compile:\n${result.diagnostics}`);
    await rename(partial, out);
    return await readFile(out);
  }
}
