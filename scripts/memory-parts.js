/**
 * Where a running Pillion's memory goes, thread by thread. A preload, not part of the proxy:
 *
 *   node --import ./scripts/memory-parts.js packages/workers/bin/pillion.js --config FILE
 *
 * PILLION_MEM_PROBE_DELAY ms after start (default 8000), and again on SIGUSR2, the main thread asks
 * every thread (itself and each worker) for its V8 heap (process.memoryUsage(), heap spaces) and the
 * scripts its isolate has loaded (through the inspector, grouped by package), reads /proc/self/smaps
 * for the process as a whole (node binary, V8 pages, malloc), and writes one JSON report to stderr or
 * to the file PILLION_MEM_PROBE_OUT. With --expose-gc each thread collects garbage first. With
 * PILLION_MEM_PROBE_SNAPSHOTS=DIR each thread also writes a heap snapshot there (after its figures);
 * `node scripts/heap-summary.js FILE` sums one up. PILLION_MEM_PROBE_LIST=1 lists every script, not
 * only the packages.
 */
import { BroadcastChannel, isMainThread, threadId } from 'node:worker_threads';
import { Session } from 'node:inspector';
import { readFileSync, writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';

const CHANNEL = 'pillion-memory-probe';
const MB = 1024 * 1024;
const mb = (n) => Math.round((n / MB) * 10) / 10;

/** Scripts this isolate has parsed, grouped: node built-ins, each npm package, each Pillion package. */
function loadedScripts() {
  const session = new Session();
  session.connect();
  const groups = new Map();
  session.on('Debugger.scriptParsed', ({ params }) => {
    const url = params.url;
    if (!url) return;
    let group;
    if (url.startsWith('node:')) group = 'node built-ins';
    else {
      const pnpm = /node_modules\/\.pnpm\/[^/]+\/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
      const own = /packages\/([^/]+)\/(?:dist|bin|build)\//.exec(url);
      const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
      group = pnpm ? pnpm[1] : own ? `@pillion/${own[1]}` : nm ? nm[1] : 'other';
    }
    if (process.env.PILLION_MEM_PROBE_LIST) group += ` ${url.replace(/^.*\/node_modules\//, '')}`;
    const g = groups.get(group) ?? { scripts: 0, bytes: 0 };
    g.scripts++;
    g.bytes += params.length ?? 0;
    groups.set(group, g);
  });
  // Debugger.enable reports every script already parsed, synchronously with a connected session.
  session.post('Debugger.enable');
  session.post('Debugger.disable');
  session.disconnect();
  const out = {};
  for (const [k, v] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes)) out[k] = { scripts: v.scripts, kB: Math.round(v.bytes / 1024) };
  return out;
}

function threadReport() {
  globalThis.gc?.();
  const u = process.memoryUsage();
  const spaces = {};
  for (const s of getHeapSpaceStatistics()) spaces[s.space_name] = { sizeMB: mb(s.space_size), usedMB: mb(s.space_used_size) };
  return {
    thread: threadId,
    heapTotalMB: mb(u.heapTotal),
    heapUsedMB: mb(u.heapUsed),
    externalMB: mb(u.external),
    arrayBuffersMB: mb(u.arrayBuffers),
    spaces,
    // The snapshot before the script list: listing scripts through the inspector adds line-end tables to the heap.
    snapshot: process.env.PILLION_MEM_PROBE_SNAPSHOTS ? writeHeapSnapshot(`${process.env.PILLION_MEM_PROBE_SNAPSHOTS}/thread-${threadId}.heapsnapshot`) : undefined,
    scripts: loadedScripts(),
  };
}

/** The process's resident memory by kind of mapping. */
function processReport() {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  const by = {};
  let cur = null;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      const size = (parseInt(m[2], 16) - parseInt(m[1], 16)) / 1024;
      const name = m[3];
      // V8 allocates its heap in 256 KiB-aligned pages; malloc arenas and thread stacks are the rest.
      cur = name === '' ? (size % 256 === 0 && size <= 4096 ? 'anon: V8 heap pages' : 'anon: malloc arenas, stacks, other') : name.includes('/') ? name.replace(/^.*\/node_modules\/.*\/node_modules\//, '') : name;
      continue;
    }
    if (cur && line.startsWith('Rss:')) by[cur] = (by[cur] ?? 0) + Number(line.split(/\s+/)[1]);
  }
  const parts = {};
  for (const [k, v] of Object.entries(by).sort((a, b) => b[1] - a[1])) if (v >= 100) parts[k] = Math.round(v / 102.4) / 10;
  return { vmRssMB: mb(kb('VmRSS') * 1024), rssAnonMB: mb(kb('RssAnon') * 1024), rssFileMB: mb(kb('RssFile') * 1024), threads: kb('Threads'), rssByMappingMB: parts };
}

const channel = new BroadcastChannel(CHANNEL);
channel.unref();
if (isMainThread) {
  let pending = null;
  channel.onmessage = (ev) => {
    if (pending && ev.data.type === 'report') pending.threads.push(ev.data.report);
  };
  const report = () => {
    if (pending) return;
    pending = { at: new Date().toISOString(), process: processReport(), threads: [] };
    channel.postMessage({ type: 'ask' });
    const timer = setTimeout(() => {
      pending.threads.unshift(threadReport());
      pending.threads.sort((a, b) => a.thread - b.thread);
      const text = JSON.stringify(pending, null, 2) + '\n';
      if (process.env.PILLION_MEM_PROBE_OUT) writeFileSync(process.env.PILLION_MEM_PROBE_OUT, text);
      else process.stderr.write(text);
      pending = null;
    }, process.env.PILLION_MEM_PROBE_SNAPSHOTS ? 5000 : 1000);
    timer.unref();
  };
  setTimeout(report, Number(process.env.PILLION_MEM_PROBE_DELAY ?? 8000)).unref();
  process.on('SIGUSR2', report);
} else {
  channel.onmessage = (ev) => {
    if (ev.data.type === 'ask') channel.postMessage({ type: 'report', report: threadReport() });
  };
}
