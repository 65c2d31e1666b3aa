/**
 * Runs the real `pillion` CLI as a child process on a config written to a temporary file, the way an
 * operator starts it, and collects what it prints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait-for.js';

export const CLI = fileURLToPath(new URL('../../packages/workers/bin/pillion.js', import.meta.url));

export interface PillionProcess {
  child: ChildProcess;
  adminUrl: string;
  output(): string;
  exited: Promise<number>;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number>;
  metrics(): Promise<string>;
}

export function writeConfig(config: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-test-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

export function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * `wrap` runs the CLI under another command that execs it (`['prlimit', '--nofile=512:512']`), so the
 * child is still Pillion itself.
 */
export async function startPillion(
  config: { admin: { port: number } } & Record<string, unknown>,
  opts: { env?: Record<string, string>; args?: string[]; wrap?: string[] } = {},
): Promise<PillionProcess> {
  const file = writeConfig(config);
  const argv = [process.execPath, CLI, '--config', file, ...(opts.args ?? [])];
  if (opts.wrap?.length) argv.unshift(...opts.wrap);
  const child = spawn(argv[0]!, argv.slice(1), {
    env: { ...process.env, PILLION_LOG_FORMAT: 'json', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? -1)));
  const adminUrl = `http://127.0.0.1:${config.admin.port}`;
  const proc: PillionProcess = {
    child,
    adminUrl,
    output: () => out,
    exited,
    stop: (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
    metrics: () => fetch(`${adminUrl}/metrics`).then((r) => r.text()),
  };
  try {
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`pillion exited with ${child.exitCode} before ready:\n${out}`);
        return fetch(`${adminUrl}/ready`).then((r) => r.status === 200, () => false);
      },
      { timeoutMs: 20_000, intervalMs: 50, message: 'pillion to answer 200 on /ready' },
    );
  } catch (e) {
    if (child.exitCode !== null) throw e;
    child.kill('SIGKILL');
    throw new Error(`${(e as Error).message}:\n${out}`);
  }
  return proc;
}

/** Reads one sample from Prometheus text: `metric(text, 'pillion_workers')` or with a label filter. */
export function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const ls = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => ls[k] === v)) return Number(m[3]);
  }
  return undefined;
}

/** Sum of every sample of a metric whose labels include `labels`. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const ls = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => ls[k] === v)) sum += Number(m[3]);
  }
  return sum;
}
