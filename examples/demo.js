/**
 * `pnpm demo`: starts three demo upstreams on 127.0.0.1:9001-9003 and Pillion on examples/demo.yaml,
 * then prints where to send requests. Ctrl-C stops everything (Pillion drains first).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startUpstream } from './demo-upstreams.js';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const servers = await Promise.all([startUpstream('api-1', 9001), startUpstream('api-2', 9002), startUpstream('web-1', 9003)]);
console.log('demo upstreams listening on 127.0.0.1:9001, 9002, 9003');

const pillion = spawn(process.execPath, [here('../packages/workers/bin/pillion.js'), '--config', here('./demo.yaml'), ...process.argv.slice(2)], {
  stdio: ['ignore', 'inherit', 'inherit'],
});

pillion.on('exit', (code) => {
  for (const s of servers) s.close();
  process.exit(code ?? 1);
});
const stop = () => (pillion.exitCode === null ? pillion.kill('SIGTERM') : process.exit(pillion.exitCode));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

const admin = 'http://127.0.0.1:9901';
for (let i = 0; i < 200; i++) {
  await new Promise((r) => setTimeout(r, 50));
  if (pillion.exitCode !== null) break;
  const ok = await fetch(`${admin}/ready`).then((r) => r.ok, () => false);
  if (ok) {
    console.log(`
Pillion is running.
  try:     curl -i http://127.0.0.1:8080/api/hello
           curl -i http://127.0.0.1:8080/
  admin:   ${admin}/clusters   ${admin}/metrics   ${admin}/ready
  stop:    Ctrl-C
`);
    break;
  }
}

