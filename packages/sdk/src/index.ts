/**
 * @pillion/sdk: what a filter author uses.
 *
 * - abi: the host functions and hook exports, the one definition both sides follow
 * - wasm-signatures: reads a compiled module's imports and exports with their types
 * - @pillion/sdk/build: compiles a filter with asc and the flags the host expects
 * - @pillion/sdk/harness: runs a filter against described requests, through the proxy's own
 *   host runtime
 * (Those two are separate entry points so the proxy loading the ABI never loads the compiler.)
 * - the AssemblyScript library itself lives in assembly/ (import "@pillion/sdk/assembly")
 */
export * from './abi.js';
export * from './wasm-signatures.js';
export * from './abi-check.js';
export { abiMarkdown } from './abi-markdown.js';
