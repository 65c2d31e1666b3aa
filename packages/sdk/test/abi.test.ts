import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkAgainstAbi } from '../src/abi-check.js';
import { Direction, HOST_MODULE, HeaderMap, HookResult, MetricKind, Property, hookExports, hostFunctions } from '../src/abi.js';
import { readSignatures } from '../src/wasm-signatures.js';
import type { ModuleSignatures } from '../src/wasm-signatures.js';
import { compileCached } from './helpers/compile-cached.js';

const source = (file: string) => readFile(fileURLToPath(new URL(`../assembly/${file}`, import.meta.url)), 'utf8');
let compiled: ModuleSignatures;

beforeAll(async () => {
  compiled = readSignatures(await compileCached(fileURLToPath(new URL('./fixtures/every-call.ts', import.meta.url))));
});

describe('the compiled SDK against the ABI module', () => {
  it('imports only host functions the ABI lists, with the ABI signatures', () => {
    expect(checkAgainstAbi(compiled)).toEqual([]);
  });

  it('imports every host function of the ABI (the library covers all of it)', () => {
    const imported = [...compiled.imports.keys()].filter((k) => k.startsWith(`${HOST_MODULE}.`)).sort();
    expect(imported).toEqual(Object.keys(hostFunctions).map((n) => `${HOST_MODULE}.${n}`).sort());
  });

  it('exports every hook with the ABI signature, and its memory', () => {
    for (const [name, signature] of Object.entries(hookExports)) {
      expect(compiled.exports.get(name), name).toEqual({ params: signature.params, results: signature.results });
    }
    expect(compiled.otherExports.get('memory')).toBe('memory');
  });

  it('declares in assembly/host.ts exactly the ABI functions', async () => {
    const declared = [...(await source('host.ts')).matchAll(/@external\("(\w+)", "(\w+)"\)/g)].map((m) => `${m[1]}.${m[2]}`);
    expect(declared.sort()).toEqual(Object.keys(hostFunctions).map((n) => `${HOST_MODULE}.${n}`).sort());
  });

  it('mirrors the ABI constants in assembly/host.ts', async () => {
    const text = await source('host.ts');
    const constants = Object.fromEntries([...text.matchAll(/export const (\w+): i32 = (0x[0-9a-f]+|\d+);/g)].map((m) => [m[1], Number(m[2])]));
    expect(constants).toEqual({
      MAP_REQUEST: HeaderMap.Request,
      MAP_RESPONSE: HeaderMap.Response,
      PROPERTY_METHOD: Property.Method,
      PROPERTY_PATH: Property.Path,
      PROPERTY_AUTHORITY: Property.Authority,
      PROPERTY_CLIENT_ADDRESS: Property.ClientAddress,
      PROPERTY_CLIENT_IDENTITY: Property.ClientIdentity,
      DIRECTION_REQUEST: Direction.Request,
      DIRECTION_RESPONSE: Direction.Response,
      METRIC_COUNTER: MetricKind.Counter,
      METRIC_GAUGE: MetricKind.Gauge,
      RESULT_UNUSED_FLAG: HookResult.UnusedFlag,
    });
    const actions = await source('action.ts');
    expect(actions).toContain(`Continue = ${HookResult.Continue},`);
    expect(actions).toContain(`Stop = ${HookResult.Stop},`);
  });
});

describe('checkAgainstAbi', () => {
  const base = (): ModuleSignatures => ({
    imports: new Map(),
    otherImports: new Map(),
    exports: new Map(),
    otherExports: new Map([['memory', 'memory']]),
  });

  it.each([
    ['an unknown host function', (s: ModuleSignatures) => s.imports.set('pillion.teleport', { params: [], results: [] }), 'imports pillion.teleport, which the host does not provide'],
    ['a wrong signature', (s: ModuleSignatures) => s.imports.set('pillion.log', { params: ['i32'], results: [] }), 'imports pillion.log as (i32) -> (), the host provides (i32, i32, i32) -> ()'],
    ['an imported memory', (s: ModuleSignatures) => s.otherImports.set('env.memory', 'memory'), 'imports memory env.memory; filters must define their own'],
    ['a hook with the wrong signature', (s: ModuleSignatures) => s.exports.set('on_log', { params: [], results: [] }), 'exports on_log as () -> (), the host calls it as (i32) -> ()'],
    ['no exported memory', (s: ModuleSignatures) => s.otherExports.clear(), 'does not export its memory as "memory"'],
  ])('reports %s', (_what, change, problem) => {
    const s = base();
    change(s);
    expect(checkAgainstAbi(s)).toEqual([problem]);
  });
});
