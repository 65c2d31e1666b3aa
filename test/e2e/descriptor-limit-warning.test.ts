/**
 * Out of file descriptors a listener cannot accept (a uws one spins a core without a word), so
 * `pillion validate` and start-up warn when the open-file limit is below what the config may hold at
 * its limits. Run under `prlimit --nofile` (util-linux).
 */
import { spawnSync } from 'node:child_process';
import { afterAll, expect, it } from 'vitest';
import { simpleConfig } from '../helpers/configs.js';
import { CLI, startPillion, writeConfig } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';
import { closeServer, startUpstream } from '../helpers/upstreams.js';

const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup) await c();
});

function validateUnder(nofile: number, file: string) {
  const r = spawnSync('prlimit', [`--nofile=${nofile}:${nofile}`, process.execPath, CLI, 'validate', file], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

it('validate warns under a low open-file limit and still passes the config', async () => {
  const [listen, admin, up] = await freePorts(3);
  const file = writeConfig(simpleConfig({ listen: listen!, admin: admin!, upstreams: [up!], workers: 2 }));
  const low = validateUnder(256, file);
  expect(low.code).toBe(0);
  expect(low.stdout).toContain(': ok');
  expect(low.stderr).toMatch(/warning: the open-file limit \(ulimit -n\) is 256, below the \d+ file descriptors/);
  expect(low.stderr).toContain('clusters[0].circuit_breaker.max_connections 1024');
  const high = validateUnder(4096, file);
  expect(high.code).toBe(0);
  expect(high.stderr).toBe('');
});

it('warns at start-up, and serves', async () => {
  const [listen, admin, up] = await freePorts(3);
  const server = await startUpstream('u', up!);
  cleanup.push(() => closeServer(server));
  const pillion = await startPillion(simpleConfig({ listen: listen!, admin: admin!, upstreams: [up!], workers: 1 }), {
    wrap: ['prlimit', '--nofile=512:512'],
  });
  cleanup.push(async () => void (await pillion.stop('SIGKILL')));
  expect(pillion.output()).toContain('the open-file limit (ulimit -n) is 512');
  expect((await fetch(`http://127.0.0.1:${listen}/`)).status).toBe(200);
  expect(await pillion.stop()).toBe(0);
});
