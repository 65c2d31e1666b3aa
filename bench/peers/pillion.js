// Pillion itself, through its command line as an operator runs it:
// node packages/workers/bin/pillion.js --config FILE --workers N --log-level warn
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { capture } from '../lib/binaries.js';
import { freePort, waitFor200 } from '../lib/net.js';
import { startChild } from '../lib/child.js';
import { benchCertificates } from '../lib/tls-certs.js';

/** @param {string} root */
const binOf = (root) => path.join(root, 'packages/workers/bin/pillion.js');

/**
 * The config every Pillion run gets: one HTTP listener, one route, one cluster holding the
 * shared upstream; a scenario may adjust it. `codec` is the listener's HTTP/1.1 codec when not
 * the default (uws). With `tls` the listener serves HTTPS with that certificate (and is then served
 * by Node's HTTPS server whatever the codec).
 * @param {{ port: number, adminPort: number, upstream: { host: string, port: number }, workers: number,
 *           accessLogOff: boolean, codec?: string, scenario?: import('../lib/types.js').Scenario,
 *           tls?: { certFile: string, keyFile: string } }} o
 * @returns {import('../lib/types.js').PillionConfig}
 */
export function pillionConfig(o) {
  /** @type {import('../lib/types.js').PillionConfig} */
  const config = {
    workers: o.workers,
    admin: { address: '127.0.0.1', port: o.adminPort },
    listeners: [
      {
        name: 'web',
        protocol: 'http',
        address: '127.0.0.1',
        port: o.port,
        ...(o.codec ? { codec: o.codec } : {}),
        ...(o.tls ? { tls: { certificates: [{ cert_file: o.tls.certFile, key_file: o.tls.keyFile }] } } : {}),
        routes: [{ match: { prefix: '/' }, cluster: 'up' }],
      },
    ],
    clusters: [{ name: 'up', endpoints: [{ address: o.upstream.host, port: o.upstream.port }] }],
  };
  if (o.accessLogOff) config.access_log = { enabled: false };
  return o.scenario?.pillionConfig ? o.scenario.pillionConfig(config) : config;
}

/**
 * @param {string} root
 * @param {string} file
 * @param {import('../lib/types.js').PillionConfig} config
 */
async function validates(root, file, config) {
  writeFileSync(file, JSON.stringify(config, null, 2));
  return capture(process.execPath, [binOf(root), 'validate', file], { cwd: root });
}

/** @param {string} root */
async function versionOf(root) {
  const pkg = JSON.parse(readFileSync(path.join(root, 'packages/workers/package.json'), 'utf8'));
  const git = await capture('git', ['rev-parse', '--short', 'HEAD'], { cwd: root });
  return git.code === 0 ? `${pkg.version} (${git.output})` : pkg.version;
}

/**
 * @typedef {object} BuiltTree Pillion checked out and built from another commit (`--baseline`)
 * @property {string} root   the checkout
 * @property {import('../lib/run-scenario.js').Commit} commit
 */

/**
 * Pillion with one HTTP/1.1 codec: `pillion` is the default (uWS), `pillion-strict` the
 * http1-strict codec (Node's llhttp server), so the two are measured side by side. With `tree`,
 * the same peer run from that checkout instead of this one: kind `NAME@SHORT-SHA`.
 * @param {string} name
 * @param {string | undefined} codec
 * @param {BuiltTree} [tree]
 * @returns {import('../lib/types.js').PeerKind}
 */
export const pillionKind = (name, codec, tree) => ({
  name: tree ? `${name}@${tree.commit.short}` : name,
  ...(tree ? { family: name } : {}),
  describe:
    (tree ? `\`${name}\` as built from \`${tree.commit.ref}\` (${tree.commit.sha}) in a temporary git worktree: ` : '') +
    `Pillion through its CLI, \`--workers N --log-level warn\`, default pools, access log off when the config accepts it${codec ? `, \`codec: ${codec}\`` : ''}`,
  multiWorker: true,
  async probe(ctx) {
    const root = tree?.root ?? ctx.root;
    const { dir } = ctx;
    const cli = 'packages/workers/dist/cli.js';
    if (!existsSync(path.join(root, cli))) {
      return { ok: false, reason: `Pillion is not built: ${tree ? path.join(root, cli) : cli} is missing (pnpm build)` };
    }
    const base = { port: 8080, adminPort: 9901, upstream: { host: '127.0.0.1', port: 9001 }, workers: 1 };
    const file = path.join(dir, 'probe.json');
    const plain = await validates(root, file, pillionConfig({ ...base, codec, accessLogOff: false }));
    if (plain.code !== 0) return { ok: false, reason: `\`pillion validate\` rejects the bench config: ${plain.output}` };
    const quiet = await validates(root, file, pillionConfig({ ...base, codec, accessLogOff: true }));
    return { ok: true, version: await versionOf(root), facts: { accessLogOff: quiet.code === 0 } };
  },
  async start(ctx) {
    const root = tree?.root ?? ctx.root;
    const adminPort = await freePort();
    const tls = ctx.scenario.tls ? benchCertificates() : undefined;
    const config = pillionConfig({ ...ctx, adminPort, codec, accessLogOff: ctx.facts.accessLogOff === true, tls });
    const file = path.join(ctx.dir, 'pillion.json');
    writeFileSync(file, JSON.stringify(config, null, 2));
    const child = startChild(
      process.execPath,
      [binOf(root), '--config', file, '--workers', String(ctx.workers), '--log-level', 'warn'],
      { cwd: root },
    );
    const url = `${tls ? 'https' : 'http'}://127.0.0.1:${ctx.port}`;
    const wait = { exited: child.exited, output: child.output, timeoutMs: 30_000 };
    try {
      await waitFor200(`http://127.0.0.1:${adminPort}/ready`, { ...wait, what: 'pillion /ready' });
      await waitFor200(`${url}/`, { ...wait, what: 'pillion', ca: tls?.ca, h2: ctx.scenario.http2 !== undefined });
    } catch (err) {
      await child.stop('SIGKILL');
      throw err;
    }
    return { url, pid: child.pid, stop: () => child.stop('SIGTERM', 10_000) };
  },
});

/** The codec of each Pillion kind; these are also the kinds `--baseline` makes twins of. */
export const PILLION_CODECS = /** @type {Readonly<Record<string, string | undefined>>} */ ({
  pillion: undefined,
  'pillion-strict': 'http1-strict',
});

export default pillionKind('pillion', PILLION_CODECS.pillion);
export const pillionStrict = pillionKind('pillion-strict', PILLION_CODECS['pillion-strict']);

/**
 * Kind `name` (pillion or pillion-strict) run from a checkout of another commit.
 * @param {string} name
 * @param {BuiltTree} tree
 */
export function pillionFromTree(name, tree) {
  if (!(name in PILLION_CODECS)) throw new Error(`no Pillion peer kind named ${name}`);
  return pillionKind(name, PILLION_CODECS[name], tree);
}
