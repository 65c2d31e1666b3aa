/**
 * The admin status page in a real browser: headless Chromium (Debian's `chromium`) loads `GET /` from
 * a running Pillion, lets the page refresh itself from `/stats` (virtual time, so no waiting), and
 * dumps the DOM: listeners, clusters, endpoints and their health are there, the rates were computed
 * from two samples, and an endpoint zone full of markup stayed text. A screenshot is taken too.
 * Run with `pnpm test:interop`; needs the Debian package chromium (see ./programs.ts).
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { closeServer } from '../helpers/upstreams.js';
import { requirePrograms } from './programs.js';

const bins = requirePrograms();

const HOSTILE_ZONE = `z<b id="injected">&'"</b>`;
/** Virtual time the page gets before the DOM is dumped: the page refreshes every 2 s. */
const VIRTUAL_MS = 5000;

let dir: string;
let pillion: PillionProcess;
let upstream: Server;
let ports: { web: number; raw: number; up: number; dead: number };

/** Runs headless Chromium on `url` with a profile of its own and no background traffic; resolves with its stdout. */
function chromium(args: string[], url: string): Promise<string> {
  const flags = [
    '--headless',
    '--disable-gpu',
    '--no-sandbox',
    `--user-data-dir=${join(dir, 'profile')}`,
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-default-apps',
    '--disable-extensions',
    // Names resolve to nothing: whatever the browser would fetch besides the page stays on this machine.
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
    `--virtual-time-budget=${VIRTUAL_MS}`,
    ...args,
    url,
  ];
  return new Promise((resolve, reject) => {
    execFile(bins.chromium, flags, { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`chromium failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pillion-status-page-'));
  const [web, raw, up, dead, admin] = await freePorts(5);
  ports = { web: web!, raw: raw!, up: up!, dead: dead! };
  upstream = createServer((_req, res) => res.end('ok\n'));
  await new Promise<void>((resolve) => upstream.listen(up, '127.0.0.1', resolve));
  pillion = await startPillion({
    workers: 1,
    admin: { port: admin! },
    access_log: { enabled: false },
    listeners: [
      { name: 'web', protocol: 'http', port: web, routes: [{ match: { prefix: '/' }, cluster: 'api' }] },
      { name: 'raw', protocol: 'tcp', port: raw, cluster: 'api' },
    ],
    clusters: [
      {
        name: 'api',
        // Nothing listens on `dead`: its health checks fail.
        endpoints: [
          { address: '127.0.0.1', port: up, zone: HOSTILE_ZONE },
          { address: '127.0.0.1', port: dead },
        ],
        health_check: { http: { path: '/' }, interval: '1s' },
        failure_breaker: {},
      },
      { name: 'spare', endpoints: [{ address: '127.0.0.1', port: up }], outlier_detection: {} },
    ],
  });
  for (let i = 0; i < 5; i++) expect((await fetch(`http://127.0.0.1:${web}/n${i}`)).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await pillion?.stop();
  if (upstream) await closeServer(upstream);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The DOM's text of the element after `anchor` carrying `data-field="NAME"` (tags removed). */
function field(dom: string, anchor: string, name: string): string {
  const from = dom.indexOf(anchor);
  expect(from, anchor).toBeGreaterThanOrEqual(0);
  const m = new RegExp(`data-field="${name}"[^>]*>(.*?)</(td|dd)>`).exec(dom.slice(from));
  return (m?.[1] ?? '').replace(/<[^>]*>/g, '');
}

describe('the status page in Chromium', () => {
  it('renders listeners, clusters, endpoints and health, refreshed from /stats', async () => {
    const dom = await chromium(['--dump-dom'], `${pillion.adminUrl}/`);
    // The page refreshed itself (each refresh renders anew from /stats and counts).
    const refreshes = Number(/<body data-refreshes="(\d+)"/.exec(dom)?.[1]);
    expect(refreshes).toBeGreaterThanOrEqual(1);
    expect(dom).toMatch(/id="refresh"[^>]*>updated /);

    expect(field(dom, 'data-listener="web"', 'address')).toBe(`127.0.0.1:${ports.web}`);
    expect(field(dom, 'data-listener="web"', 'total')).toBe('5');
    expect(field(dom, 'data-listener="raw"', 'protocol')).toBe('tcp');
    // A rate needs two samples: after a refresh it is a number (no traffic since: 0.0).
    expect(field(dom, 'data-listener="web"', 'rate')).toBe('0.0 requests');
    expect(field(dom, 'data-cluster="api"', 'rate')).toBe('0.0');
    expect(dom).toContain('data-cluster="spare"');

    const up = `data-endpoint="127.0.0.1:${ports.up}"`;
    const dead = `data-endpoint="127.0.0.1:${ports.dead}"`;
    expect(field(dom, up, 'active-health')).toBe('healthy');
    expect(field(dom, dead, 'active-health')).toBe('unhealthy');
    expect(field(dom, up, 'breaker')).toBe('closed');
    expect(field(dom, up, 'effective-weight')).toBe('1');
    expect(field(dom, 'data-cluster="spare"', 'passive-health')).toBe('ok');

    // The zone is text in its cell; no element came out of it.
    expect(field(dom, up, 'zone')).toBe('z&lt;b id="injected"&gt;&amp;\'"&lt;/b&gt;');
    expect(dom).not.toMatch(/<b[\s>]/);
  }, 90_000);

  it('takes a screenshot', async () => {
    const file = join(dir, 'status.png');
    await chromium([`--screenshot=${file}`, '--window-size=1280,1024', '--hide-scrollbars'], `${pillion.adminUrl}/`);
    expect(statSync(file).size).toBeGreaterThan(1000);
    const png = readFileSync(file);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    // IHDR: the window's size.
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1280, 1024]);
  }, 90_000);
});
