// Peers run as child processes. Every child started here is stopped on exit, even when the
// bench is interrupted, so no proxy outlives a run and holds its port.
import { spawn } from 'node:child_process';

/** @type {Set<import('node:child_process').ChildProcess>} */
const live = new Set();

/**
 * Signals a child's whole process group: nginx's workers outlive a killed master otherwise.
 * @param {import('node:child_process').ChildProcess} child
 * @param {NodeJS.Signals} signal
 */
function killGroup(child, signal) {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function killAll() {
  for (const child of live) killGroup(child, 'SIGKILL');
}

/** SIGKILLs every child still running, with its process group: for exit paths that cannot wait. */
export const killChildren = killAll;
let guarded = false;

/** Installed with the first child: kill children on exit and on SIGINT/SIGTERM. */
function guard() {
  if (guarded) return;
  guarded = true;
  process.once('exit', killAll);
  for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) {
    process.once(signal, () => {
      killAll();
      // Without other listeners, end the way the signal would have ended us.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

const TAIL_BYTES = 4096;

/**
 * @typedef {object} Child
 * @property {import('node:child_process').ChildProcess} proc
 * @property {number} pid
 * @property {() => string} output     the last few KiB of stdout and stderr, for error messages
 * @property {Promise<number | null>} exited
 * @property {(signal?: NodeJS.Signals, graceMs?: number) => Promise<void>} stop
 */

/**
 * @param {string} command
 * @param {string[]} args
 * @param {{ cwd?: string, env?: NodeJS.ProcessEnv, onLine?: (line: string) => void }} [options]
 * @returns {Child}
 */
export function startChild(command, args, options = {}) {
  guard();
  const proc = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that killing it reaches the processes it forks.
    detached: true,
  });
  live.add(proc);
  let tail = '';
  let partial = '';
  /** @param {Buffer} chunk */
  const take = (chunk) => {
    const text = chunk.toString('utf8');
    tail = (tail + text).slice(-TAIL_BYTES);
    if (options.onLine) {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) options.onLine(line);
    }
  };
  proc.stdout?.on('data', take);
  proc.stderr?.on('data', take);
  /** @type {Promise<number | null>} */
  const exited = new Promise((resolve) => {
    proc.once('exit', (code) => {
      live.delete(proc);
      resolve(code);
    });
    proc.once('error', (err) => {
      live.delete(proc);
      tail += `\n${err.message}`;
      resolve(null);
    });
  });
  if (proc.pid === undefined) throw new Error(`could not start ${command}`);
  return {
    proc,
    pid: proc.pid,
    output: () => tail,
    exited,
    async stop(signal = 'SIGTERM', graceMs = 5000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      /** @type {NodeJS.Timeout | undefined} */
      let timer;
      const late = new Promise((resolve) => {
        timer = setTimeout(resolve, graceMs);
      });
      const code = await Promise.race([exited, late.then(() => 'late')]);
      clearTimeout(timer);
      if (code === 'late') {
        killGroup(proc, 'SIGKILL');
        await exited;
      }
    },
  };
}
