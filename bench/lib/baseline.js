// `--baseline REF`: Pillion as built from another commit, run beside this tree's Pillion in the
// same interleaved rounds. The commit is checked out in a temporary git worktree outside the
// repository, its dependencies are installed offline from the pnpm store (or, when pnpm is not
// at hand or cannot install offline, this checkout's node_modules are linked in), and its own
// `prepare` script builds it. The build output is kept in a cache folder named by the full commit
// sha, so a later run with that commit only checks out, installs and copies. The worktree is
// removed when the bench ends, also after an error, SIGINT or SIGTERM.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findBinary } from './binaries.js';
import { killChildren, startChild } from './child.js';
import { PILLION_CODECS } from '../peers/pillion.js';

/** The peer kinds a baseline build gives a twin to. */
export const BASELINE_FAMILIES = Object.keys(PILLION_CODECS);

const MANIFEST = 'manifest.json';

/**
 * The id of `id`'s twin built from commit `short`: `pillion-1` → `pillion-1@3a4547c`.
 * @param {string} id
 * @param {string} short
 */
export const twinId = (id, short) => `${id}@${short}`;

/**
 * The selected peer kinds that get a twin from the baseline build, in table order.
 * @param {ReadonlyArray<{ kind: { name: string } }>} selected
 * @returns {string[]}
 */
export function baselineFamilies(selected) {
  return BASELINE_FAMILIES.filter((f) => selected.some((v) => v.kind.name === f));
}

/**
 * `v` run from the baseline build: same worker count, its own kind, probe results and id.
 * @param {import('./types.js').PeerVariant} v
 * @param {{ kind: import('./types.js').PeerKind, version: string, facts: Record<string, unknown> }} twin
 * @param {import('./run-scenario.js').Commit} commit
 * @returns {import('./run-scenario.js').ReadyVariant}
 */
export function twinVariant(v, twin, commit) {
  return {
    id: twinId(v.id, commit.short),
    kind: twin.kind,
    workers: v.workers,
    version: twin.version,
    facts: twin.facts,
    twinOf: v.id,
    commit,
  };
}

/**
 * Where builds are cached: $PILLION_BENCH_CACHE, else a folder in the system's temporary one.
 * @param {NodeJS.ProcessEnv} [env]
 */
export function cacheRoot(env = process.env) {
  return env.PILLION_BENCH_CACHE || path.join(os.tmpdir(), 'pillion-bench-cache');
}

/**
 * @param {string} cwd
 * @param {string[]} args
 */
function git(cwd, args) {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

/**
 * The commit `ref` names in the repository at `root`; throws a message for the command line when
 * it names none.
 * @param {string} root
 * @param {string} ref
 * @returns {import('./run-scenario.js').Commit}
 */
export function resolveCommit(root, ref) {
  try {
    git(root, ['rev-parse', '--git-dir']);
  } catch {
    throw new Error(`--baseline needs a git checkout, and ${path.resolve(root)} is not one`);
  }
  let sha = '';
  try {
    sha = git(root, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
  } catch {
    // exits 1 for a ref that names nothing
  }
  if (!/^[0-9a-f]{40,64}$/.test(sha)) {
    throw new Error(`--baseline: unknown git ref "${ref}": it names no commit in ${path.resolve(root)} (try a branch, tag, sha or HEAD~N)`);
  }
  return { ref, sha, short: git(root, ['rev-parse', '--short', sha]) };
}

/**
 * How to run pnpm: the one running this script (`pnpm bench` sets npm_execpath), else `pnpm` on
 * PATH; null without either.
 * @param {NodeJS.ProcessEnv} [env]
 * @returns {{ file: string, args: string[] } | null}
 */
export function pnpmCommand(env = process.env) {
  const exec = env.npm_execpath;
  if (exec && /pnpm/i.test(path.basename(exec)) && fs.existsSync(exec)) {
    return /\.[cm]?js$/.test(exec) ? { file: process.execPath, args: [exec] } : { file: exec, args: [] };
  }
  const bin = findBinary('pnpm', env.PATH ?? '');
  return bin ? { file: bin, args: [] } : null;
}

/**
 * The node_modules folders of the workspace at `root`: its own and its packages' (up to two
 * levels down: bench/, packages/core/), none inside another node_modules.
 * @param {string} root
 * @returns {string[]} relative to root
 */
export function nodeModulesDirs(root) {
  /** @type {string[]} */
  const out = [];
  /** @param {string} rel @param {number} depth */
  const visit = (rel, depth) => {
    let entries;
    try {
      entries = fs.readdirSync(path.join(root, rel), { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const r = path.join(rel, e.name);
      if (e.name === 'node_modules') out.push(r);
      else if (depth < 2 && !e.name.startsWith('.')) visit(r, depth + 1);
    }
  };
  visit('', 0);
  return out;
}

/**
 * Copies one pnpm node_modules folder as links. Relative links are copied as they are, so a
 * workspace package (`@pillion/core -> ../../../core`) resolves inside the new tree and a
 * dependency (`pino -> ../../../node_modules/.pnpm/...`) through the new tree's `.pnpm`, which
 * links to this checkout's: the packages themselves are shared, never written.
 * @param {string} src
 * @param {string} dst
 * @param {boolean} isRoot
 */
function mirrorNodeModules(src, dst, isRoot) {
  fs.mkdirSync(dst, { recursive: true });
  for (const e of fs.readdirSync(src, { withFileTypes: true })) {
    const s = path.join(src, e.name);
    const d = path.join(dst, e.name);
    if (e.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(s), d);
    else if (!e.isDirectory()) continue; // pnpm's bookkeeping files
    else if (e.name === '.bin') fs.cpSync(s, d, { recursive: true });
    else if (e.name.startsWith('@')) mirrorNodeModules(s, d, false);
    else if (e.name.startsWith('.') && !(isRoot && e.name === '.pnpm')) continue; // caches
    else fs.symlinkSync(s, d);
  }
}

/**
 * Links `from`'s node_modules into the checkout `to`, for every package that exists in both.
 * @param {string} from
 * @param {string} to
 * @returns {string[]} the node_modules folders made, relative
 */
export function linkNodeModules(from, to) {
  /** @type {string[]} */
  const made = [];
  for (const rel of nodeModulesDirs(from)) {
    if (!fs.existsSync(path.join(to, path.dirname(rel), 'package.json'))) continue;
    mirrorNodeModules(path.join(from, rel), path.join(to, rel), rel === 'node_modules');
    made.push(rel);
  }
  return made;
}

/** @param {string} dir */
function removeNodeModules(dir) {
  // fs.rm does not follow links: only the links go, never what they point to.
  for (const rel of nodeModulesDirs(dir)) fs.rmSync(path.join(dir, rel), { recursive: true, force: true });
}

/** @param {string} a @param {string} b */
function sameLockfile(a, b) {
  try {
    return fs.readFileSync(path.join(a, 'pnpm-lock.yaml')).equals(fs.readFileSync(path.join(b, 'pnpm-lock.yaml')));
  } catch {
    return false;
  }
}

/**
 * Runs a command to its end; a child of the bench, so Ctrl-C stops it too.
 * @param {string} file
 * @param {string[]} args
 * @param {{ cwd: string, env?: NodeJS.ProcessEnv }} options
 * @returns {Promise<{ code: number | null, output: string }>}
 */
async function run(file, args, options) {
  const child = startChild(file, args, options);
  const code = await child.exited;
  return { code, output: child.output() };
}

/** @param {number} t0 */
const since = (t0) => `${((performance.now() - t0) / 1000).toFixed(1)} s`;

/** @param {string} text */
const tail = (text) => text.trim().split('\n').slice(-8).join('\n    ');

/**
 * @param {string} root this checkout
 * @param {string} dir  the worktree
 * @param {(line: string) => void} log
 * @returns {Promise<string>} how
 */
async function installDependencies(root, dir, log) {
  const pnpm = pnpmCommand();
  /** @type {string} */
  let why = 'pnpm is not installed';
  if (pnpm) {
    const t0 = performance.now();
    // --ignore-scripts: the root `prepare` (the build) runs next, on its own.
    const r = await run(pnpm.file, [...pnpm.args, 'install', '--offline', '--frozen-lockfile', '--ignore-scripts'], { cwd: dir });
    if (r.code === 0) return `pnpm install --offline --frozen-lockfile from the store (${since(t0)})`;
    why = `pnpm install --offline --frozen-lockfile failed (exit ${r.code})`;
    log(`  ${why}:\n    ${tail(r.output)}`);
    removeNodeModules(dir);
  }
  const same = sameLockfile(root, dir);
  if (!same) {
    log(
      '  warning: its pnpm-lock.yaml differs from this checkout\'s, and the node_modules linked in are this ' +
        'checkout\'s: a dependency it lacks stops the build or the peer',
    );
  }
  linkNodeModules(root, dir);
  return `this checkout's node_modules linked in (${why}; pnpm-lock.yaml ${same ? 'identical' : 'differs'})`;
}

/**
 * Runs the checkout's own `prepare` script (its build), with its node_modules/.bin on PATH.
 * @param {string} dir
 * @returns {Promise<string>} the script
 */
async function build(dir) {
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const script = pkg.scripts?.prepare ?? pkg.scripts?.build;
  if (typeof script !== 'string') throw new Error('its package.json has no prepare or build script');
  const PATH = [path.join(dir, 'node_modules/.bin'), process.env.PATH ?? ''].join(path.delimiter);
  const r = await run('sh', ['-c', script], { cwd: dir, env: { ...process.env, PATH } });
  if (r.code !== 0) throw new Error(`its build \`${script}\` failed (exit ${r.code}):\n    ${tail(r.output)}`);
  return script;
}

/**
 * What the build added to the checkout: untracked paths outside node_modules (dist/, *.tsbuildinfo).
 * @param {string} dir
 * @returns {string[]}
 */
function buildOutputs(dir) {
  return git(dir, ['ls-files', '--others', '--directory', '--no-empty-directory', '-z'])
    .split('\0')
    .map((p) => p.replace(/\/$/, ''))
    .filter((p) => p && !p.split('/').includes('node_modules'));
}

const COPY = /** @type {const} */ ({ recursive: true, preserveTimestamps: true, verbatimSymlinks: true });

/**
 * Keeps the build output of `dir` in `cached`; written aside and renamed, so a run stopped half-way
 * leaves no cache entry, and of two runs caching the same commit the first wins.
 * @param {string} dir
 * @param {string} cached
 * @param {Record<string, unknown>} about
 */
function saveBuild(dir, cached, about) {
  const partial = `${cached}.partial-${process.pid}`;
  fs.rmSync(partial, { recursive: true, force: true });
  const outputs = buildOutputs(dir);
  for (const p of outputs) fs.cpSync(path.join(dir, p), path.join(partial, 'tree', p), COPY);
  fs.writeFileSync(path.join(partial, MANIFEST), `${JSON.stringify({ ...about, outputs, date: new Date().toISOString() }, null, 2)}\n`);
  try {
    fs.renameSync(partial, cached);
  } catch {
    fs.rmSync(partial, { recursive: true, force: true });
  }
}

/**
 * @param {string} cached
 * @param {string} dir
 */
function restoreBuild(cached, dir) {
  const manifest = JSON.parse(fs.readFileSync(path.join(cached, MANIFEST), 'utf8'));
  for (const p of manifest.outputs) fs.cpSync(path.join(cached, 'tree', p), path.join(dir, p), COPY);
}

/**
 * Removes the worktree `dir` of the repository at `root`: its node_modules links first, then
 * the worktree through git; by hand when git cannot.
 * @param {string} root
 * @param {string} dir
 */
export function removeWorktree(root, dir) {
  if (!fs.existsSync(dir)) return;
  removeNodeModules(dir);
  try {
    execFileSync('git', ['worktree', 'remove', '--force', dir], { cwd: root, stdio: 'ignore' });
  } catch {
    // removed by hand below
  }
  if (fs.existsSync(dir)) {
    fs.rmSync(dir, { recursive: true, force: true });
    try {
      execFileSync('git', ['worktree', 'prune'], { cwd: root, stdio: 'ignore' });
    } catch {
      // a stale entry stays in .git/worktrees; `git worktree prune` clears it
    }
  }
}

/**
 * Runs `fn` (synchronous) once: when the returned function is called, or at exit, or on
 * SIGINT/SIGTERM (after killing the bench's children, which may run from what `fn` removes).
 * @param {() => void} fn
 * @returns {() => void}
 */
function once(fn) {
  let done = false;
  const go = () => {
    if (done) return;
    done = true;
    fn();
  };
  /** @param {NodeJS.Signals} signal */
  const onSignal = (signal) => {
    killChildren();
    go();
    // Without other listeners, end the way the signal would have ended us.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const onInt = () => onSignal('SIGINT');
  const onTerm = () => onSignal('SIGTERM');
  process.once('exit', go);
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  return () => {
    process.off('exit', go);
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    go();
  };
}

/**
 * @typedef {object} Baseline
 * @property {import('../peers/pillion.js').BuiltTree} tree
 * @property {{ ref: string, sha: string, worktree: string, dependencies: string, build: string }} about  for the results JSON
 * @property {() => void} remove   removes the worktree (idempotent)
 */

/**
 * Checks out `commit` in a temporary worktree, installs its dependencies and builds it, or
 * restores its build from the cache.
 * @param {{ root: string, commit: import('./run-scenario.js').Commit, log: (line: string) => void, cacheDir?: string }} o
 * @returns {Promise<Baseline>}
 */
export async function prepareBaseline(o) {
  const { root, commit, log } = o;
  const cacheDir = o.cacheDir ?? cacheRoot();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `pillion-baseline-${commit.short}-`));
  const dir = path.join(tmp, 'pillion');
  const remove = once(() => {
    removeWorktree(root, dir);
    fs.rmSync(tmp, { recursive: true, force: true });
    log(`baseline: removed the worktree ${dir}`);
  });
  try {
    const t0 = performance.now();
    git(root, ['worktree', 'add', '--detach', dir, commit.sha]);
    log(`baseline: ${commit.ref} is ${commit.sha}; worktree ${dir}`);
    const dependencies = await installDependencies(root, dir, log);
    log(`baseline: dependencies: ${dependencies}`);
    const cached = path.join(cacheDir, commit.sha);
    /** @type {string | null} */
    let built = null;
    if (fs.existsSync(path.join(cached, MANIFEST))) {
      try {
        restoreBuild(cached, dir);
        built = `restored from ${cached}`;
      } catch (err) {
        // A cache entry a temporary-files cleaner has thinned out: build again.
        log(`baseline: the cached build in ${cached} is unreadable, building again: ${err instanceof Error ? err.message : err}`);
        fs.rmSync(cached, { recursive: true, force: true });
      }
    }
    if (built === null) {
      const t1 = performance.now();
      const script = await build(dir);
      fs.mkdirSync(cacheDir, { recursive: true });
      saveBuild(dir, cached, { sha: commit.sha, ref: commit.ref, script, node: process.version });
      built = `\`${script}\` in ${since(t1)}, cached in ${cached}`;
    }
    log(`baseline: build ${built}; ready in ${since(t0)}`);
    return { tree: { root: dir, commit }, about: { ref: commit.ref, sha: commit.sha, worktree: dir, dependencies, build: built }, remove };
  } catch (err) {
    remove();
    throw err;
  }
}
