/**
 * Reads the typed imports and exports of a compiled module from its bytes. The JS API lists
 * their names only; checking a filter against the ABI needs their signatures too.
 */

export type ValueType = 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'funcref' | 'externref';

export interface FunctionType {
  params: ValueType[];
  results: ValueType[];
}

export interface ModuleSignatures {
  /** Imported functions, as `module.name` → type. */
  imports: Map<string, FunctionType>;
  /** Other imports (memory, table, global), as `module.name` → kind. */
  otherImports: Map<string, string>;
  /** Exported functions, name → type. */
  exports: Map<string, FunctionType>;
  /** Other exports (memory, table, global), name → kind. */
  otherExports: Map<string, string>;
}

const VALUE_TYPES: Record<number, ValueType> = {
  0x7f: 'i32',
  0x7e: 'i64',
  0x7d: 'f32',
  0x7c: 'f64',
  0x7b: 'v128',
  0x70: 'funcref',
  0x6f: 'externref',
};
const KINDS = ['function', 'table', 'memory', 'global'];

class Reader {
  pos = 0;
  constructor(readonly bytes: Uint8Array) {}

  byte(): number {
    if (this.pos >= this.bytes.length) throw new Error('truncated module');
    return this.bytes[this.pos++]!;
  }

  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
  }

  name(): string {
    const len = this.u32();
    const s = new TextDecoder().decode(this.bytes.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }

  valueType(): ValueType {
    const b = this.byte();
    const t = VALUE_TYPES[b];
    if (t === undefined) throw new Error(`unknown value type 0x${b.toString(16)}`);
    return t;
  }

  limits(): void {
    const flags = this.byte();
    this.u32();
    if (flags & 1) this.u32();
  }
}

export function readSignatures(bytes: Uint8Array): ModuleSignatures {
  const r = new Reader(bytes);
  const header = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  if (bytes.length < 8 || header.some((b, i) => bytes[i] !== b)) throw new Error('not a WebAssembly module');
  r.pos = 8;
  const types: FunctionType[] = [];
  const functionTypes: number[] = [];
  const out: ModuleSignatures = { imports: new Map(), otherImports: new Map(), exports: new Map(), otherExports: new Map() };
  const rawExports: Array<[string, number, number]> = [];
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (id === 1) {
      for (let n = r.u32(); n > 0; n--) {
        if (r.byte() !== 0x60) throw new Error('unsupported type form');
        const params = Array.from({ length: r.u32() }, () => r.valueType());
        const results = Array.from({ length: r.u32() }, () => r.valueType());
        types.push({ params, results });
      }
    } else if (id === 2) {
      for (let n = r.u32(); n > 0; n--) {
        const key = `${r.name()}.${r.name()}`;
        const kind = r.byte();
        if (kind === 0) {
          const typeIndex = r.u32();
          functionTypes.push(typeIndex);
          out.imports.set(key, types[typeIndex]!);
        } else {
          if (kind === 1) {
            r.byte();
            r.limits();
          } else if (kind === 2) r.limits();
          else {
            r.valueType();
            r.byte();
          }
          out.otherImports.set(key, KINDS[kind] ?? `kind ${kind}`);
        }
      }
    } else if (id === 3) {
      for (let n = r.u32(); n > 0; n--) functionTypes.push(r.u32());
    } else if (id === 7) {
      for (let n = r.u32(); n > 0; n--) rawExports.push([r.name(), r.byte(), r.u32()]);
    }
    r.pos = end;
  }
  for (const [name, kind, index] of rawExports) {
    if (kind === 0) out.exports.set(name, types[functionTypes[index]!]!);
    else out.otherExports.set(name, KINDS[kind] ?? `kind ${kind}`);
  }
  return out;
}
