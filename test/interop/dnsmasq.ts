/**
 * A dnsmasq on loopback that a test changes while Pillion runs: names come from a hosts file the test
 * rewrites (dnsmasq re-reads it on SIGHUP), SRV records and their targets from the command line. It
 * answers only for names under `.test` (`--local`), NXDOMAIN for the rest of `.test`, and refuses any
 * other name: it forwards nothing, so no test ever reaches the machine's resolver through it.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../helpers/wait-for.js';

export interface Dnsmasq {
  readonly port: number;
  /** `127.0.0.1:PORT`, for `discovery.resolvers`. */
  readonly address: string;
  /** Replaces the hosts file (name → addresses) and makes dnsmasq read it again. */
  setHosts(hosts: Record<string, string[]>): Promise<void>;
  /** Stops it (queries fail: connection refused); `start` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  output(): string;
}

export interface DnsmasqOptions {
  program: string;
  port: number;
  hosts: Record<string, string[]>;
  /** `--srv-host` values: `_service._proto.name,target,port,priority,weight`. */
  srv?: string[];
  /** `--host-record` values: `name,address`. */
  records?: string[];
  /** TTL of the answers, seconds. */
  ttl?: number;
}

export async function startDnsmasq(o: DnsmasqOptions): Promise<Dnsmasq> {
  const dir = mkdtempSync(join(tmpdir(), 'pillion-dnsmasq-'));
  // dnsmasq drops to --user after start and must still read the hosts file on SIGHUP.
  chmodSync(dir, 0o755);
  const hostsFile = join(dir, 'hosts');
  const writeHosts = (hosts: Record<string, string[]>) =>
    writeFileSync(hostsFile, Object.entries(hosts).flatMap(([name, addresses]) => addresses.map((a) => `${a} ${name}\n`)).join(''));
  writeHosts(o.hosts);
  const group = execFileSync('id', ['-gn'], { encoding: 'utf8' }).trim();
  const args = [
    `--port=${o.port}`,
    '--listen-address=127.0.0.1',
    '--bind-interfaces',
    '--no-resolv',
    '--no-hosts',
    '--local=/test/',
    `--addn-hosts=${hostsFile}`,
    `--local-ttl=${o.ttl ?? 1}`,
    '--pid-file=',
    '--keep-in-foreground',
    '--log-facility=-',
    `--user=${userInfo().username}`,
    `--group=${group}`,
    ...(o.srv ?? []).map((s) => `--srv-host=${s}`),
    ...(o.records ?? []).map((r) => `--host-record=${r}`),
  ];
  let child: ChildProcess | null = null;
  let out = '';
  const start = async () => {
    const c = spawn(o.program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    c.stdout!.on('data', (d) => (out += d));
    c.stderr!.on('data', (d) => (out += d));
    await waitFor(
      () => {
        if (c.exitCode !== null) throw new Error(`dnsmasq exited with ${c.exitCode}:\n${out}`);
        return /read .*hosts/.test(out) || out.includes('started');
      },
      { timeoutMs: 5000, message: 'dnsmasq to start' },
    );
  };
  const stop = async () => {
    const c = child;
    child = null;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  };
  await start();
  return {
    port: o.port,
    address: `127.0.0.1:${o.port}`,
    async setHosts(hosts) {
      writeHosts(hosts);
      const reads = (out.match(/read .*hosts/g) ?? []).length;
      (child as ChildProcess | null)?.kill('SIGHUP');
      await waitFor(() => (out.match(/read .*hosts/g) ?? []).length > reads, { timeoutMs: 5000, message: 'dnsmasq to read the hosts file again' });
    },
    stop,
    start,
    output: () => out,
  };
}
