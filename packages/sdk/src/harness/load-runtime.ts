import type { HarnessRuntime } from './runtime.js';

/**
 * The proxy's host runtime, found where the proxy is installed next to the SDK. @pillion/workers
 * depends on this package for the ABI, so the SDK cannot depend on it back; it is looked up when
 * `pillion-sdk test` runs instead. Only its WASM host is loaded, not the proxy.
 */
export async function loadHarnessRuntime(): Promise<HarnessRuntime> {
  let main: string;
  try {
    main = import.meta.resolve('@pillion/workers');
  } catch {
    throw new Error("pillion-sdk test runs filters on the proxy's host runtime: install @pillion/workers next to @pillion/sdk");
  }
  const file = new URL('./wasm/harness-runtime.js', main);
  let mod: { harnessRuntime?: HarnessRuntime };
  try {
    mod = (await import(file.href)) as { harnessRuntime?: HarnessRuntime };
  } catch (error) {
    throw new Error(`cannot load the host runtime from ${file.pathname} (is @pillion/workers built?): ${(error as Error).message}`);
  }
  if (!mod.harnessRuntime) throw new Error(`${file.pathname} has no harnessRuntime export`);
  return mod.harnessRuntime;
}
