/**
 * What loading a module costs a thread: heap used (after a full collection) and process RSS, one
 * module after another, in the main thread or in a fresh worker thread.
 *
 *   node --expose-gc scripts/import-cost.js [--worker] [MODULE ...]
 *
 * Modules are resolved from packages/workers or packages/core (so their dependencies are found); the
 * default list is what a Pillion thread may load. Figures depend on order: a module shared by two
 * (pino's helpers, node built-ins) is counted with the first.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const DEFAULT = ['zod', 'yaml', '@pillion/core', 'pino', 'prom-client', 'piscina', 'uWebSockets.js', '@assemblyscript/loader', '@pillion/sdk', 'node:http', 'node:dgram', 'node-unix-socket'];
const fromWorkers = createRequire(fileURLToPath(new URL('../packages/workers/package.json', import.meta.url)));
const fromCore = createRequire(fileURLToPath(new URL('../packages/core/package.json', import.meta.url)));
const mb = (n) => (n / 1048576).toFixed(2);

async function load(name) {
  if (name.startsWith('node:')) return import(name);
  // Native addons and CommonJS-only packages through require; the rest as ES modules.
  if (name === 'uWebSockets.js' || name === 'node-unix-socket') return fromWorkers(name);
  for (const r of [fromWorkers, fromCore]) {
    let resolved;
    try {
      resolved = r.resolve(name);
    } catch {
      continue;
    }
    return import(pathToFileURL(resolved).href);
  }
  return import(name);
}

async function measure(mods, out) {
  if (!globalThis.gc) throw new Error('run with --expose-gc');
  const sample = () => {
    globalThis.gc();
    globalThis.gc();
    return process.memoryUsage();
  };
  let prev = sample();
  out(`${'(start)'.padEnd(24)} heapUsed ${mb(prev.heapUsed)} MB, rss ${mb(prev.rss)} MB`);
  for (const name of mods) {
    await load(name);
    await new Promise((r) => setTimeout(r, 50));
    const u = sample();
    out(`${name.padEnd(24)} heapUsed +${mb(u.heapUsed - prev.heapUsed)} MB, external +${mb(u.external - prev.external)} MB, rss +${mb(u.rss - prev.rss)} MB`);
    prev = u;
  }
}

if (isMainThread) {
  const args = process.argv.slice(2);
  const inWorker = args[0] === '--worker';
  const mods = (inWorker ? args.slice(1) : args).length ? (inWorker ? args.slice(1) : args) : DEFAULT;
  console.log(`${inWorker ? 'worker thread' : 'main thread'}, node ${process.version}`);
  if (inWorker) {
    const w = new Worker(new URL(import.meta.url), { workerData: mods });
    w.on('message', (line) => console.log(line));
    w.on('error', (e) => {
      console.error(e);
      process.exitCode = 1;
    });
  } else {
    await measure(mods, console.log);
  }
} else {
  await measure(workerData, (line) => parentPort.postMessage(line));
}
