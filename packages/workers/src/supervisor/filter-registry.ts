/**
 * The WASM modules of every listener's filter chain, compiled once here and posted to the workers,
 * which instantiate their own. Also checks each filter's config by instantiating it once, so a bad
 * module or config is a config error with its path, never a worker that fails at run time.
 *
 * Modules are cached by file, size and modification time: a reload that leaves a filter untouched
 * hands workers the very same Module, so they keep their instances; a changed file or config makes
 * them swap (requests in flight finish on the old instance). Watching the files turns a rebuilt
 * `.wasm` into a reload of that filter, without dropping connections.
 *
 * The WASM host (and the AssemblyScript loader it uses) is loaded by prepare(), only for a config
 * that has filters: a supervisor without any never loads it.
 */
import { existsSync, readFileSync, readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import type { Config, ConfigProblem } from '@pillion/core';
import type { FilterSpec, ProxyWasmSpec } from '../messages.js';
import { AtomicBuckets } from '../wasm/shared-buckets.js';
import type * as WasmHost from '../wasm/index.js';

/** Token buckets each filter may use (ids 0-15 in the ABI). */
const BUCKETS_PER_FILTER = 16;
/** Bucket capacity shared by all filters for the life of the process. */
const MAX_FILTER_BUCKETS = 4096;

const require = createRequire(import.meta.url);

interface Compiled {
  size: number;
  mtimeMs: number;
  module: WebAssembly.Module;
}

export type FilterBuild = { ok: true; specs: Record<string, FilterSpec[]> } | { ok: false; problems: ConfigProblem[] };

export class FilterRegistry {
  readonly bucketsBuffer = new SharedArrayBuffer(MAX_FILTER_BUCKETS * AtomicBuckets.BYTES_PER_BUCKET);
  private readonly compiled = new Map<string, Compiled>();
  private readonly bucketBases = new Map<string, number>();
  /** Per `listener/filter`, the proxy-wasm shared data store, kept across reloads while its limits hold. */
  private readonly sharedData = new Map<string, WasmHost.proxyWasm.SharedData>();
  /** Per `listener/filter`, the proxy-wasm shared queues, likewise. */
  private readonly sharedQueues = new Map<string, WasmHost.proxyWasm.SharedQueues>();
  private readonly watchers = new Map<string, FSWatcher>();
  private onChange: ((file: string) => void) | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private host: typeof WasmHost | null = null;

  /** `configDir`: where relative `wasm:` paths start (the config file's folder). */
  constructor(private readonly configDir: string) {}

  /** Loads the WASM host if `config` has filters; build() of such a config needs it. */
  async prepare(config: Config): Promise<void> {
    if (this.host || !config.listeners.some((l) => l.protocol === 'http' && l.filters.length > 0)) return;
    this.host = await import('../wasm/index.js');
  }

  /** Compiles (or reuses) and checks every filter of `config` (prepared with prepare()). */
  build(config: Config): FilterBuild {
    const problems: ConfigProblem[] = [];
    const host = this.host;
    const specs: Record<string, FilterSpec[]> = {};
    const buckets = new AtomicBuckets(this.bucketsBuffer);
    config.listeners.forEach((l, i) => {
      if (l.protocol !== 'http' || l.filters.length === 0) return;
      if (!host) {
        problems.push({ path: `listeners[${i}].filters`, message: 'the WASM host is not loaded (FilterRegistry.prepare was not called)' });
        return;
      }
      const { DEFAULT_MAX_MEMORY, FilterError, WasmFilter } = host;
      const names = new Set<string>();
      const list: FilterSpec[] = [];
      l.filters.forEach((f, j) => {
        const at = `listeners[${i}].filters[${j}]`;
        let file: string;
        let name: string;
        if ('plugin' in f) {
          name = f.name ?? f.plugin;
          try {
            file = pluginPath(f.plugin);
          } catch (e) {
            problems.push({ path: `${at}.plugin`, message: (e as Error).message });
            return;
          }
        } else {
          file = resolve(this.configDir, f.wasm);
          name = f.name ?? basename(f.wasm).replace(/\.wasm$/, '');
        }
        if (names.has(name)) {
          problems.push({ path: `${at}.name`, message: `another filter of this listener is already named "${name}"; give one a name` });
          return;
        }
        names.add(name);
        const maxMemory = parseSize(f.max_memory ?? DEFAULT_MAX_MEMORY);
        if (maxMemory === undefined) {
          problems.push({ path: `${at}.max_memory`, message: 'must be a size like 16MiB, 512KiB or a number of bytes' });
          return;
        }
        let module: WebAssembly.Module;
        try {
          module = this.compile(file);
        } catch (e) {
          problems.push({ path: 'plugin' in f ? `${at}.plugin` : `${at}.wasm`, message: (e as Error).message });
          return;
        }
        const key = `${l.name}/${name}`;
        const abi = host.proxyWasm.proxyWasmAbiOf(module);
        if (abi !== null && 'wasm' in f) {
          const spec = this.proxyWasmSpec(host, key, module, f, at, problems);
          if (spec === null) return;
          // The config as proxy_on_configure reads it: a string as is, anything else as JSON.
          const config = f.config === undefined ? '' : typeof f.config === 'string' ? f.config : JSON.stringify(f.config);
          try {
            const sharedData = spec.sharedData && new host.proxyWasm.SharedData(spec.sharedData.buffer, spec.sharedData);
            const sharedQueues = spec.sharedQueues && new host.proxyWasm.SharedQueues(spec.sharedQueues.buffer, spec.sharedQueues);
            const check = new host.proxyWasm.ProxyWasmFilter(module, { name, rootId: spec.rootId, config, maxMemory, maxBodyBytes: spec.maxBodyBytes, bufferBody: spec.bufferBody, sharedData, sharedQueues });
            check.close();
          } catch (e) {
            const detail = e instanceof FilterError ? `${e.kind}: ${e.detail}` : (e as Error).message;
            problems.push({ path: `${at}.config`, message: `the proxy-wasm filter (ABI ${abi}) refused its config or could not start: ${detail}` });
            return;
          }
          list.push({ name, module, config, failOpen: f.fail_open, maxMemory, bucketBase: 0, bucketCount: 0, proxyWasm: spec });
          return;
        }
        if ('wasm' in f && (f.root_id !== '' || f.buffer_body.length > 0)) {
          const field = f.root_id !== '' ? 'root_id' : 'buffer_body';
          problems.push({ path: `${at}.${field}`, message: 'applies only to proxy-wasm modules (this one exports no proxy_abi_version_0_2_x)' });
          return;
        }
        const configJson = JSON.stringify(f.config ?? {});
        let bucketBase = this.bucketBases.get(key);
        if (bucketBase === undefined) {
          bucketBase = this.bucketBases.size * BUCKETS_PER_FILTER;
          if (bucketBase + BUCKETS_PER_FILTER > MAX_FILTER_BUCKETS) {
            problems.push({ path: at, message: `more than ${MAX_FILTER_BUCKETS / BUCKETS_PER_FILTER} filters over the life of the process` });
            return;
          }
          this.bucketBases.set(key, bucketBase);
        }
        // Instantiating once here checks the module's imports and its configure() with this config.
        try {
          new WasmFilter(module, { name, config: configJson, maxMemory, buckets: { shared: buckets, base: bucketBase, count: BUCKETS_PER_FILTER } });
        } catch (e) {
          const detail = e instanceof FilterError ? `${e.kind}: ${e.detail}` : (e as Error).message;
          problems.push({ path: `${at}.config`, message: `the filter refused its config or could not start: ${detail}` });
          return;
        }
        list.push({ name, module, config: configJson, failOpen: f.fail_open, maxMemory, bucketBase, bucketCount: BUCKETS_PER_FILTER, proxyWasm: null });
      });
      specs[l.name] = list;
    });
    if (problems.length) return { ok: false, problems };
    this.watchFiles();
    return { ok: true, specs };
  }

  /** The proxy-wasm part of a filter's spec, or null with the problems recorded. */
  private proxyWasmSpec(
    host: typeof WasmHost,
    key: string,
    module: WebAssembly.Module,
    f: Extract<Extract<Config['listeners'][number], { protocol: 'http' }>['filters'][number], { wasm: string }>,
    at: string,
    problems: ConfigProblem[],
  ): ProxyWasmSpec | null {
    const maxBodyBytes = parseSize(f.max_body_bytes);
    if (maxBodyBytes === undefined) {
      problems.push({ path: `${at}.max_body_bytes`, message: 'must be a size like 1MiB, 512KiB or a number of bytes' });
      return null;
    }
    let sharedData: ProxyWasmSpec['sharedData'] = null;
    if (host.proxyWasm.usesSharedData(module)) {
      const limits = { keys: f.shared_data.keys, keyBytes: f.shared_data.key_bytes, valueBytes: f.shared_data.value_bytes };
      let store = this.sharedData.get(key);
      const same = store && store.limits.keys === limits.keys && store.limits.keyBytes === limits.keyBytes && store.limits.valueBytes === limits.valueBytes;
      if (!store || !same) this.sharedData.set(key, (store = host.proxyWasm.SharedData.create(limits)));
      sharedData = { buffer: store.buffer, ...limits };
    }
    let sharedQueues: ProxyWasmSpec['sharedQueues'] = null;
    if (host.proxyWasm.usesSharedQueues(module)) {
      const limits = { queues: f.shared_queues.queues, items: f.shared_queues.items, itemBytes: f.shared_queues.item_bytes };
      let store = this.sharedQueues.get(key);
      const same = store && store.limits.queues === limits.queues && store.limits.items === limits.items && store.limits.itemBytes === limits.itemBytes;
      if (!store || !same) this.sharedQueues.set(key, (store = host.proxyWasm.SharedQueues.create(limits)));
      sharedQueues = { buffer: store.buffer, ...limits };
    }
    return {
      rootId: f.root_id,
      sharedQueues,
      bufferBody: [f.buffer_body.includes('request'), f.buffer_body.includes('response')],
      maxBodyBytes,
      sharedData,
    };
  }

  /** Calls `onChange` (debounced) when a filter's .wasm file changes on disk. */
  watch(onChange: (file: string) => void): void {
    this.onChange = onChange;
    this.watchFiles();
  }

  close(): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
    if (this.debounce) clearTimeout(this.debounce);
    this.onChange = null;
  }

  private compile(file: string): WebAssembly.Module {
    let st;
    try {
      st = statSync(file);
    } catch (e) {
      throw new Error(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const cached = this.compiled.get(file);
    if (cached && cached.size === st.size && cached.mtimeMs === st.mtimeMs) return cached.module;
    let module: WebAssembly.Module;
    try {
      module = new WebAssembly.Module(readFileSync(file));
    } catch (e) {
      throw new Error(`${file} is not a valid WebAssembly module: ${(e as Error).message}`);
    }
    this.compiled.set(file, { size: st.size, mtimeMs: st.mtimeMs, module });
    return module;
  }

  private watchFiles(): void {
    if (!this.onChange) return;
    for (const file of this.compiled.keys()) {
      if (this.watchers.has(file)) continue;
      try {
        // Watch the folder: build tools replace files (new inode), which a file watch would miss.
        const w = watch(dirname(file), (_event, changed) => {
          if (changed !== null && changed.toString() !== basename(file)) return;
          if (this.debounce) clearTimeout(this.debounce);
          this.debounce = setTimeout(() => this.onChange?.(file), 100);
        });
        w.unref();
        this.watchers.set(file, w);
      } catch {
        // Unwatchable (gone, permissions): reloads still pick changes up.
      }
    }
  }
}

/** A built-in plugin's compiled module, from @pillion/plugins (built by the install). */
function pluginPath(name: string): string {
  const dist = join(dirname(require.resolve('@pillion/plugins/package.json')), 'dist');
  const file = join(dist, `${name}.wasm`);
  if (/^[a-z0-9-]+$/.test(name) && existsSync(file)) return file;
  let known: string[] = [];
  try {
    known = readdirSync(dist).filter((f) => f.endsWith('.wasm')).map((f) => f.slice(0, -5));
  } catch {
    // not built: say so below
  }
  throw new Error(known.length ? `unknown plugin "${name}"; built-in plugins: ${known.join(', ')}` : `built-in plugins are not built (run the install command)`);
}

/** `16MiB`, `512KiB`, `1GiB`, `65536` → bytes. */
export function parseSize(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v > 0 ? v : undefined;
  const m = /^(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?$/.exec(v.trim());
  if (!m) return undefined;
  const unit = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, KB: 1000, MB: 1000 ** 2, GB: 1000 ** 3 }[m[2] ?? 'B']!;
  return Number(m[1]) * unit;
}
