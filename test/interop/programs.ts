/**
 * The programs from Debian packages the interop tests run, and where they are. A missing one is an
 * error naming it and the apt-get line that installs them all: these tests fail, they never skip.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** The programs, each with the Debian package that installs it. */
export const PACKAGES = { curl: 'curl', nginx: 'nginx', openssl: 'openssl', h2load: 'nghttp2-client', chromium: 'chromium', dnsmasq: 'dnsmasq-base', wrk: 'wrk' } as const;
export type Program = keyof typeof PACKAGES;
export const PROGRAMS = Object.keys(PACKAGES) as Program[];

export const APT_LINE = `apt-get install -y --no-install-recommends ${Object.values(PACKAGES).join(' ')}`;

/** PATH, then the sbin directories (Debian puts nginx in /usr/sbin, which a non-root PATH often lacks). */
function searchDirs(): string[] {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const d of ['/usr/local/sbin', '/usr/sbin', '/sbin']) if (!dirs.includes(d)) dirs.push(d);
  return dirs;
}

export function findProgram(name: string): string | null {
  for (const dir of searchDirs()) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/** Absolute path of every program, or an Error naming each missing one and the apt-get line. */
export function requirePrograms(): Record<Program, string> {
  const found = {} as Record<Program, string>;
  const missing: string[] = [];
  for (const p of PROGRAMS) {
    const file = findProgram(p);
    if (file) found[p] = file;
    else missing.push(p);
  }
  if (missing.length > 0) {
    throw new Error(
      `The interop tests need ${missing.map((m) => `\`${m}\``).join(' and ')}, not found on PATH or in /usr/sbin, /sbin. ` +
        `Install the Debian packages (as root): apt-get update && ${APT_LINE}`,
    );
  }
  return found;
}
