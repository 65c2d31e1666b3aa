import { fileURLToPath } from 'node:url';
import { compileCached } from '../../sdk/test/helpers/compile-cached.js';

/** Compiles test/fixtures/NAME.ts with the SDK's build (cached) and returns the module. */
export async function fixtureModule(name: string, sdkHooks = true): Promise<WebAssembly.Module> {
  const entry = fileURLToPath(new URL(`./fixtures/${name}.ts`, import.meta.url));
  return new WebAssembly.Module(await compileCached(entry, { sdkHooks }));
}
