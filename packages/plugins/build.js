#!/usr/bin/env node
// Compiles every plugin to dist/NAME.wasm with the SDK's build, skipping those already newer
// than their source and the SDK library (`--force` rebuilds all).
import { mkdir, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkAgainstAbi, readSignatures } from '@pillion/sdk';
import { compileFilter } from '@pillion/sdk/build';
import { PLUGINS, pluginPath, pluginSource } from './index.js';

const force = process.argv.includes('--force');
const sdkAssembly = path.join(path.dirname(fileURLToPath(import.meta.resolve('@pillion/sdk'))), '..', 'assembly');

const mtime = (file) => stat(file).then((s) => s.mtimeMs, () => 0);

async function newestSdkSource() {
  let newest = 0;
  for (const file of await readdir(sdkAssembly)) newest = Math.max(newest, await mtime(path.join(sdkAssembly, file)));
  return newest;
}

const started = Date.now();
const sdkTime = await newestSdkSource();
await mkdir(fileURLToPath(new URL('./dist/', import.meta.url)), { recursive: true });
let failed = 0;
for (const name of PLUGINS) {
  const out = pluginPath(name);
  const built = await mtime(out);
  if (!force && built > (await mtime(pluginSource(name))) && built > sdkTime) continue;
  const t = Date.now();
  const result = await compileFilter({ entry: pluginSource(name), outFile: out });
  if (result.diagnostics.trim()) process.stderr.write(result.diagnostics);
  const problems = result.ok ? checkAgainstAbi(readSignatures(await readFile(out))) : ['did not compile'];
  for (const problem of problems) process.stderr.write(`plugin ${name}: ${problem}\n`);
  if (problems.length > 0) failed++;
  else process.stdout.write(`plugins: ${name} -> dist/${name}.wasm (${Date.now() - t} ms)\n`);
}
process.stdout.write(`plugins: built in ${Date.now() - started} ms\n`);
process.exitCode = failed === 0 ? 0 : 1;
