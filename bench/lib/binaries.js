// Finding and asking optional peer binaries (nginx, HAProxy) without requiring them.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

// Debian installs nginx and haproxy in /usr/sbin, which is not on a normal user's PATH.
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/**
 * Absolute path of an executable named `name`, or null.
 * @param {string} name
 * @param {string} [searchPath]
 */
export function findBinary(name, searchPath = process.env.PATH ?? '') {
  for (const dir of [...searchPath.split(path.delimiter), ...EXTRA_DIRS]) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * stdout + stderr of a short command (nginx prints its version on stderr), with its exit code.
 * @param {string} file
 * @param {string[]} args
 * @param {{ cwd?: string, timeoutMs?: number }} [options]
 * @returns {Promise<{ code: number, output: string }>}
 */
export function capture(file, args, options = {}) {
  return new Promise((resolve) => {
    execFile(file, args, { cwd: options.cwd, timeout: options.timeoutMs ?? 15_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}`.trim() });
    });
  });
}
