// CPU time and peak memory of a process and its descendants, read from Linux's /proc.
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
  let sum = 0;
  let seen = false;
  for (const pid of processTree(root)) {
    const text = readOrNull(`/proc/${pid}/status`);
    const kib = text ? parseRssKiB(text) : null;
    if (kib !== null) {
      sum += kib;
      seen = true;
    }
  }
  return seen ? sum : null;
}
