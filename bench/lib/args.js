// Command line of `pnpm bench`.
import { parseArgs } from 'node:util';

export const USAGE = `usage: pnpm bench [scenario ...] [options]

  scenario          run only these (default: all); see --list
  --quick           smoke pass: 1 round of 1 s per peer, no warm-up; writes bench/results/quick.json only
  --duration S      seconds per measured run (default 10)
  --warmup S        seconds of unmeasured load per peer before the first round (default 2)
  --repeats N       rounds; peers run interleaved, A B A B (default 3)
  --peers LIST      only these peer kinds or ids, comma separated (direct,pillion,pillion-strict,http-proxy,nginx,haproxy,pillion-1,...)
  --workers N       the "default" worker count for multi-worker peers (default: available cores)
  --baseline REF    also run Pillion as built from git commit REF (a branch, tag, sha, HEAD~3): every
                    selected pillion / pillion-strict peer gets a twin named e.g. pillion-1@<short-sha>,
                    measured in the same interleaved rounds; built in a temporary git worktree, build
                    cached by commit under $PILLION_BENCH_CACHE (default: <tmpdir>/pillion-bench-cache)
  --load GEN        what drives the HTTP/1.1 scenarios: autocannon (default, works everywhere) or wrk (C, far
                    less CPU per request than autocannon: on a machine with few cores the proxy keeps the core
                    autocannon would take; needs \`apt-get install -y wrk\`). Pipelined, HTTP/2 and TCP scenarios
                    keep their own load (h2load, the bench's TCP clients)
  --list            list scenarios and peers, then exit
  --report          rewrite docs/benchmarks.md from bench/results/latest.json, then exit
  -h, --help`;

/**
 * @typedef {object} BenchArgs
 * @property {string[]} scenarios
 * @property {boolean} quick
 * @property {number} duration
 * @property {number} warmup
 * @property {number} repeats
 * @property {string[] | null} peers
 * @property {number | null} workers
 * @property {string | null} baseline   git ref of the commit to build Pillion from and measure beside this tree
 * @property {'autocannon' | 'wrk'} load  the load generator of the HTTP/1.1 scenarios
 * @property {boolean} list
 * @property {boolean} report
 * @property {boolean} help
 */

/**
 * @param {string} name
 * @param {string | undefined} raw
 * @param {number} fallback
 * @param {{ min: number, integer?: boolean }} rule
 */
function num(name, raw, fallback, rule) {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < rule.min || (rule.integer && !Number.isInteger(n))) {
    throw new Error(`--${name} must be ${rule.integer ? 'an integer' : 'a number'} >= ${rule.min}, got "${raw}"`);
  }
  return n;
}

/**
 * @param {string | undefined} raw
 * @returns {string | null}
 */
function baselineRef(raw) {
  if (raw === undefined) return null;
  const ref = raw.trim();
  // A ref never starts with "-"; refusing it keeps the value from reaching git as an option.
  if (!ref || ref.startsWith('-')) throw new Error(`--baseline needs a git ref (branch, tag, sha, HEAD~N), got "${raw}"`);
  return ref;
}

/**
 * @param {string[]} argv arguments after the script name
 * @returns {BenchArgs}
 */
export function parseBenchArgs(argv) {
  const { values, positionals } = parseArgs({
    // `pnpm bench -- --quick` forwards the `--`; options after it are still options.
    args: argv.filter((a) => a !== '--'),
    allowPositionals: true,
    strict: true,
    options: {
      quick: { type: 'boolean', default: false },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      repeats: { type: 'string' },
      peers: { type: 'string' },
      workers: { type: 'string' },
      baseline: { type: 'string' },
      load: { type: 'string', default: 'autocannon' },
      list: { type: 'boolean', default: false },
      report: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const quick = values.quick === true;
  return {
    scenarios: positionals,
    quick,
    duration: num('duration', values.duration, quick ? 1 : 10, { min: 0.5 }),
    warmup: num('warmup', values.warmup, quick ? 0 : 2, { min: 0 }),
    repeats: num('repeats', values.repeats, quick ? 1 : 3, { min: 1, integer: true }),
    peers: values.peers ? values.peers.split(',').map((s) => s.trim()).filter(Boolean) : null,
    workers: values.workers === undefined ? null : num('workers', values.workers, 1, { min: 1, integer: true }),
    baseline: baselineRef(values.baseline),
    load: loadGenerator(values.load),
    list: values.list === true,
    report: values.report === true,
    help: values.help === true,
  };
}

/**
 * @param {string | undefined} raw
 * @returns {'autocannon' | 'wrk'}
 */
function loadGenerator(raw) {
  if (raw === undefined || raw === 'autocannon') return 'autocannon';
  if (raw === 'wrk') return 'wrk';
  throw new Error(`--load must be autocannon or wrk, got "${raw}"`);
}

/**
 * Was scenario `name` named on this command line for a full (not --quick) run? Long extras,
 * such as a million-request memory check, run only then, never in a run of every scenario.
 * @param {string} name
 * @param {string[]} [argv]
 */
export function namedForFullRun(name, argv = process.argv.slice(2)) {
  try {
    const args = parseBenchArgs(argv);
    return !args.quick && args.scenarios.includes(name);
  } catch {
    return false; // not the bench's command line (a test runner's, say)
  }
}
