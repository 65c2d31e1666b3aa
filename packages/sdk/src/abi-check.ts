import { HOST_MODULE, envFunctions, hookExports, hostFunctions } from './abi.js';
import type { FunctionSignature } from './abi.js';
import type { FunctionType, ModuleSignatures } from './wasm-signatures.js';

const same = (a: FunctionType, b: FunctionSignature): boolean =>
  a.params.join() === b.params.join() && a.results.join() === b.results.join();

const show = (t: { params: readonly string[]; results: readonly string[] }): string =>
  `(${t.params.join(', ')}) -> (${t.results.join(', ')})`;

/**
 * Everything in a compiled filter that does not match the ABI: imports the host does not provide
 * or provides with another signature, hook exports with the wrong signature, a missing memory.
 * An empty list means the host can run it.
 */
export function checkAgainstAbi(signatures: ModuleSignatures): string[] {
  const problems: string[] = [];
  const provided: Record<string, Record<string, FunctionSignature>> = { [HOST_MODULE]: hostFunctions, env: envFunctions };
  for (const [key, type] of signatures.imports) {
    const dot = key.indexOf('.');
    const expected = provided[key.slice(0, dot)]?.[key.slice(dot + 1)];
    if (expected === undefined) problems.push(`imports ${key}, which the host does not provide`);
    else if (!same(type, expected)) problems.push(`imports ${key} as ${show(type)}, the host provides ${show(expected)}`);
  }
  for (const [key, kind] of signatures.otherImports) problems.push(`imports ${kind} ${key}; filters must define their own`);
  const hooks: Record<string, FunctionSignature> = hookExports;
  for (const [name, type] of signatures.exports) {
    const expected = hooks[name];
    if (expected !== undefined && !same(type, expected)) {
      problems.push(`exports ${name} as ${show(type)}, the host calls it as ${show(expected)}`);
    }
  }
  if (signatures.otherExports.get('memory') !== 'memory') problems.push('does not export its memory as "memory"');
  return problems;
}
