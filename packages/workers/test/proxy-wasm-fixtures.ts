import { fileURLToPath } from 'node:url';
import { compileCached } from '../../sdk/test/helpers/compile-cached.js';

/** Where the proxy-wasm test module's source lives (one module; its root_id picks the behaviour). */
export const PROXY_WASM_FIXTURE = fileURLToPath(new URL('./fixtures/proxy-wasm/filters.ts', import.meta.url));

/** A module in the AssemblyScript SDK's shape: ABI 0.2.0, `malloc` instead of proxy_on_memory_allocate. */
export const PROXY_WASM_0_2_0_FIXTURE = fileURLToPath(new URL('./fixtures/proxy-wasm/abi-0-2-0.ts', import.meta.url));

/** asc flags the fixture needs: AssemblyScript's abort goes to WASI proc_exit (proxy-wasm hosts have no env.abort). */
export const PROXY_WASM_ASC_FLAGS = ['--use', 'abort=filters/abortProcExit'] as const;

export async function proxyWasm020Fixture(): Promise<WebAssembly.Module> {
  return new WebAssembly.Module(await compileCached(PROXY_WASM_0_2_0_FIXTURE, { sdkHooks: false, ascFlags: ['--use', 'abort=abi-0-2-0/abortProcExit'] }));
}

/** Builds the proxy-wasm fixture from source (cached by content) and returns its bytes. */
export function proxyWasmFixtureBytes(): Promise<Uint8Array> {
  return compileCached(PROXY_WASM_FIXTURE, { sdkHooks: false, ascFlags: PROXY_WASM_ASC_FLAGS });
}

export async function proxyWasmFixture(): Promise<WebAssembly.Module> {
  return new WebAssembly.Module(await proxyWasmFixtureBytes());
}
