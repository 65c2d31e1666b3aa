// Builds bench/filters/proxy-wasm-header-rewrite.ts with the SDK's compiler into the temp dir, once
// per source (a content hash names the file), so the bench never runs a binary built elsewhere.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('../filters/proxy-wasm-header-rewrite.ts', import.meta.url));

/** @returns {Promise<string>} the .wasm file's path */
export async function proxyWasmHeaderRewrite() {
  const hash = createHash('sha256').update(readFileSync(SOURCE)).digest('hex').slice(0, 16);
  const dir = path.join(tmpdir(), 'pillion-bench-filters');
  const out = path.join(dir, `proxy-wasm-header-rewrite-${hash}.wasm`);
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const { compileFilter } = await import('@pillion/sdk/build');
  const partial = `${out}.${process.pid}.tmp`;
  // No SDK hooks (it speaks proxy-wasm); AssemblyScript's abort goes to WASI proc_exit.
  const result = await compileFilter({ entry: SOURCE, outFile: partial, sdkHooks: false, ascFlags: ['--use', 'abort=proxy-wasm-header-rewrite/abortProcExit'] });
  if (!result.ok) throw new Error(`${SOURCE} did not compile:\n${result.diagnostics}`);
  renameSync(partial, out);
  return out;
}
