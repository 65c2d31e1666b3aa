// CPU time and memory (resident now, idle, under load, peak) of a process and its
// descendants, read from Linux's /proc.
// nginx and HAProxy can run several processes; Pillion and node run threads in one. Summing
// over the tree measures every peer the same way.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';

export const HAVE_PROC = existsSync('/proc/self/stat');

/** Kernel clock ticks per second, the unit of utime and stime. */
export function clockTicks() {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

/**
 * Fields of /proc/PID/stat we use. The command name sits in parentheses and may itself
 * hold spaces or parentheses, so fields are counted from the last ')'.
 * @param {string} text
 * @returns {{ ppid: number, ticks: number }}
 */
export function parseStat(text) {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
}

/**
 * VmHWM (peak resident set) in KiB from /proc/PID/status; null for a zombie or kernel thread.
 * @param {string} text
 * @returns {number | null}
 */
export function parsePeakRssKiB(text) {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** @param {string} path */
function readOrNull(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null; // the process exited between listing and reading
  }
}

/**
 * `root` and all its descendants.
 * @param {number} root
 * @returns {number[]}
 */
export function processTree(root) {
  /** @type {Map<number, number[]>} */
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (name.charCodeAt(0) < 48 || name.charCodeAt(0) > 57) continue;
    const text = readOrNull(`/proc/${name}/stat`);
    if (!text) continue;
    const { ppid } = parseStat(text);
    const list = children.get(ppid);
    if (list) list.push(Number(name));
    else children.set(ppid, [Number(name)]);
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]) ?? []));
  return out;
}

/**
 * CPU ticks per process of the tree under `root`.
 * @param {number} root
 * @returns {Map<number, number>}
 */
export function cpuSnapshot(root) {
  /** @type {Map<number, number>} */
  const out = new Map();
  for (const pid of processTree(root)) {
    const text = readOrNull(`/proc/${pid}/stat`);
    if (text) out.set(pid, parseStat(text).ticks);
  }
  return out;
}

/**
 * CPU seconds spent between two snapshots; a process born in between counts from zero.
 * @param {Map<number, number>} before
 * @param {Map<number, number>} after
 * @param {number} ticksPerSecond
 */
export function cpuSecondsBetween(before, after, ticksPerSecond) {
  let ticks = 0;
  for (const [pid, t] of after) ticks += t - (before.get(pid) ?? 0);
  return ticks / ticksPerSecond;
}

/**
 * Sum of VmHWM over the tree under `root`, KiB.
 * @param {number} root
 * @returns {number | null}
 */
export function peakRssKiB(root) {
  let sum = 0;
  let seen = false;
  for (const pid of processTree(root)) {
    const text = readOrNull(`/proc/${pid}/status`);
    const kib = text ? parsePeakRssKiB(text) : null;
    if (kib !== null) {
      sum += kib;
      seen = true;
    }
  }
  return seen ? sum : null;
}

/**
 * VmRSS (resident set now, unlike VmHWM's peak) in KiB from /proc/PID/status; null when absent.
 * @param {string} text
 * @returns {number | null}
 */
export function parseRssKiB(text) {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(text);
  return m ? Number(m[1]) : null;
}

/**
 * Sum of VmRSS over the tree under `root`, KiB: what the processes hold at this moment.
 * @param {number} root
 * @returns {number | null}
 */
export function rssKiB(root) {
  return rssOfKiB(processTree(root));
}

/**
 * Sum of VmRSS over `pids`, KiB; null when none of them could be read.
 * @param {ReadonlyArray<number>} pids
 * @returns {number | null}
 */
export function rssOfKiB(pids) {
  let sum = 0;
  let seen = false;
  for (const pid of pids) {
    const text = readOrNull(`/proc/${pid}/status`);
    const kib = text ? parseRssKiB(text) : null;
    if (kib !== null) {
      sum += kib;
      seen = true;
    }
  }
  return seen ? sum : null;
}

/**
 * Have the last `window` readings settled: do they lie within `max(floorKiB, share × largest)`?
 * @param {ReadonlyArray<number>} readings KiB, oldest first
 * @param {{ window: number, floorKiB: number, share: number }} rule
 */
export function rssSettled(readings, rule) {
  if (readings.length < rule.window) return false;
  const last = readings.slice(-rule.window);
  const hi = Math.max(...last);
  return hi - Math.min(...last) <= Math.max(rule.floorKiB, hi * rule.share);
}

/**
 * minMs: a Node process holds its start-up heap until V8's memory reducer runs, about 8 s after
 * start (a plateau, then 10 MB less for Pillion with one worker; measured with
 * `node scripts/footprint.js --settle 2,5,8,12`, and gone with `--no-memory-reducer`). Readings
 * before minMs do not count as settled, so every peer is read as it idles, not as it started.
 */
export const IDLE_RULE = { everyMs: 100, window: 5, floorKiB: 256, share: 0.01, minMs: 10_000, timeoutMs: 15_000 };

/**
 * The idle footprint of a process tree that has just started: VmRSS summed over the tree,
 * read every `everyMs` until, `minMs` or more after the call, `window` readings in a row agree
 * (see rssSettled), or until `timeoutMs`, when the last reading is taken as it is.
 * @param {number} root
 * @param {typeof IDLE_RULE} [rule]
 * @returns {Promise<{ rssKiB: number | null, settled: boolean, afterMs: number }>}
 */
export async function idleRssKiB(root, rule = IDLE_RULE) {
  const t0 = performance.now();
  /** @type {number[]} */
  const readings = [];
  for (;;) {
    const kib = rssOfKiB(processTree(root));
    if (kib === null) return { rssKiB: null, settled: false, afterMs: Math.round(performance.now() - t0) };
    readings.push(kib);
    const afterMs = Math.round(performance.now() - t0);
    const settled = afterMs >= (rule.minMs ?? 0) && rssSettled(readings, rule);
    if (settled || afterMs >= rule.timeoutMs) return { rssKiB: kib, settled, afterMs };
    await new Promise((resolve) => setTimeout(resolve, rule.everyMs));
  }
}

export const LOAD_RSS_EVERY_MS = 250;

/**
 * Reads VmRSS summed over the tree under `root` every `everyMs` until stopped: the footprint
 * under load. The tree is listed again every fourth reading, so processes a proxy forks
 * during the run count too. `stop` gives the mean and the largest reading (one reading
 * taken then when the run was shorter than one period).
 * @param {number} root
 * @param {number} [everyMs]
 * @returns {{ stop: () => { meanKiB: number | null, peakKiB: number | null, readings: number } }}
 */
export function sampleRss(root, everyMs = LOAD_RSS_EVERY_MS) {
  let pids = processTree(root);
  let n = 0;
  let sum = 0;
  let peak = 0;
  const read = () => {
    if (n > 0 && n % 4 === 0) pids = processTree(root);
    const kib = rssOfKiB(pids);
    if (kib === null) return;
    n++;
    sum += kib;
    peak = Math.max(peak, kib);
  };
  const timer = setInterval(read, everyMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      if (n === 0) read();
      return n === 0 ? { meanKiB: null, peakKiB: null, readings: 0 } : { meanKiB: sum / n, peakKiB: peak, readings: n };
    },
  };
}
