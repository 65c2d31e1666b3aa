// docs/benchmarks.md, generated from the results JSON so the doc and the data never disagree.
import { fmtCpu, fmtInt, fmtMiB, fmtMs, fmtPct, fmtRatio } from './format.js';
import { median, ratio } from './stats.js';
import { sharedCpuNote } from './report-text.js';
import { chartPath, scenarioChart } from './chart-svg.js';

/**
 * `value (ratio)` when there is a ratio.
 * @param {string} value
 * @param {number | null} r
 */
const cell = (value, r) => (r === null || r === undefined || value === '—' ? value : `${value} (${fmtRatio(r)})`);

/** `2026-11-21 19:16 UTC` from an ISO date. @param {string} iso */
export const fmtDate = (iso) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;

/**
 * @param {import('./types.js').LoadSpec} load
 * @param {boolean} [tls] over HTTPS
 */
export function describeLoad(load, tls = false) {
  const body = load.bodyBytes ? `, ${fmtInt(load.bodyBytes)}-byte body` : '';
  if (load.streams) {
    return `${load.method ?? 'GET'} ${load.path}${body} over cleartext HTTP/2 (h2load), ${load.connections} connections × ${load.streams} concurrent streams`;
  }
  return `${load.method ?? 'GET'} ${load.path}${body}${tls ? ' over HTTPS' : ''}, ${load.connections} connections, pipelining ${load.pipelining ?? 1}`;
}

/** The Method bullet for runs with TLS scenarios. */
export const TLS_METHOD =
  '- Scenarios whose load is "over HTTPS" (TLS terminated by the proxy): every peer serves one certificate made by the run (before its first TLS peer starts) with the `openssl` command ' +
  '(a CA and a server certificate signed by it, both ECDSA P-256, the server\'s for `IP:127.0.0.1`), with one worker: ' +
  'Pillion\'s listener `tls` (Node\'s HTTPS server), nginx `listen ssl`, HAProxy `bind ssl crt`; `pillion-strict` is left out ' +
  '(with `tls` it is the same server). The client is Node\'s TLS in the bench process (autocannon for keep-alive load, ' +
  'the bench\'s own loop for new connections); it offers no session and no ALPN and does not verify the certificate ' +
  'during the load (once per peer after the rounds it does, and the notes say what was negotiated). Its TLS work ' +
  'competes with the peers for the same cores.';

/** The Method bullet for runs with HTTP/2 scenarios (their load has `streams`). */
export const H2_METHOD =
  '- HTTP/2 scenarios (`h2-to-http1`, `h2-to-h2`): the load is h2load (nghttp2), not autocannon: cleartext HTTP/2 with prior knowledge, ' +
  'one client thread, a fixed number of requests per run sized from the peer\'s last rate to last about the run\'s seconds, because ' +
  'h2load\'s timing mode does not count refused connections or streams lost with a connection as failed. errors are the requests not ' +
  'answered 2xx (h2load\'s `failed`, which holds `errored` and `timeout`, plus 3xx); the notes sum them over every run. p50/p99 come from ' +
  'h2load\'s per-request log, load gen CPU is the h2load process. One worker each: Pillion\'s listener `codec: h2c`, nginx `listen http2`, ' +
  'HAProxy `bind proto h2`; to an HTTP/2 upstream Pillion\'s cluster `protocol: h2c`, HAProxy `server proto h2`, nginx `grpc_pass` ' +
  '(its only HTTP/2 client), each row with its own HTTP/2 upstream (nginx, one worker, a fixed 13-byte answer).';

/**
 * What a peer's probe found, e.g. ` (found: accessLogOff=true)`.
 * @param {Record<string, unknown> | undefined} facts
 */
function factsNote(facts) {
  const entries = Object.entries(facts ?? {});
  return entries.length ? ` (found: ${entries.map(([k, v]) => `${k}=${String(v)}`).join(', ')})` : '';
}

/**
 * What each row from another commit's build (`--baseline`) is, and how the row it mirrors
 * compares with it: one line per such row.
 * @param {ReadonlyArray<import('./run-scenario.js').ScenarioRow>} rows
 * @returns {string[]}
 */
export function twinLines(rows) {
  /** @type {string[]} */
  const out = [];
  for (const twin of rows) {
    if (!twin.twinOf) continue;
    const from = twin.commit ? `\`${twin.commit.ref}\` (${twin.commit.sha})` : 'another commit';
    const head = `\`${twin.id}\` is \`${twin.twinOf}\` built from ${from}`;
    const now = rows.find((r) => r.id === twin.twinOf);
    if (!now) {
      out.push(`${head}; \`${twin.twinOf}\` did not run.`);
      continue;
    }
    const a = now.summary;
    const b = twin.summary;
    const figures = /** @type {const} */ ([
      ['req/s', 'rps'], ['p99', 'p99'], ['CPU per request', 'cpuPer10k'], ['idle RSS', 'idleRssKiB'], ['RSS under load', 'loadRssKiB'],
    ]).flatMap(([label, key]) => {
      const r = ratio(a[key] ?? null, b[key] ?? null);
      return r === null ? [] : [`${label} ${fmtRatio(r)}`];
    });
    out.push(`${head}; this tree's \`${twin.twinOf}\` against it: ${figures.join(', ') || 'no figures to compare'}.`);
  }
  return out;
}

/**
 * One scenario's table.
 * @param {import('./run-scenario.js').ScenarioResult} s
 * @returns {string}
 */
export function renderTable(s) {
  const lines = [
    '| peer | req/s | p50 ms | p99 ms | errors | CPU s / 10k req | idle RSS MiB | RSS under load MiB | peak RSS MiB | load gen CPU |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const row of s.rows) {
    const m = row.summary;
    const r = row.ratio;
    const name = row.baseline === row.id ? `**${row.id}**` : row.id;
    lines.push(
      `| ${name} | ${cell(fmtInt(m.rps), r.rps)} | ${cell(fmtMs(m.p50), r.p50)} | ${cell(fmtMs(m.p99), r.p99)} | ` +
        `${cell(fmtInt(m.errors), r.errors)} | ${cell(fmtCpu(m.cpuPer10k), r.cpuPer10k)} | ` +
        `${cell(fmtMiB(m.idleRssKiB), r.idleRssKiB)} | ${cell(fmtMiB(m.loadRssKiB), r.loadRssKiB)} | ` +
        `${cell(fmtMiB(m.rssKiB), r.rssKiB)} | ${fmtPct(median(row.samples.map((x) => x.loadCpu)))} |`,
    );
  }
  const notes = [...twinLines(s.rows), ...(s.notes ?? [])];
  if (notes.length) lines.push('', ...notes.map((n) => `- ${n}`));
  return lines.join('\n');
}

/**
 * @param {import('./results.js').BenchResults} res
 * @returns {string}
 */
export function renderMarkdown(res) {
  const m = res.machine;
  const v = res.versions;
  const baselineKind = res.scenarios.some((s) => s.rows.some((r) => r.kind === 'nginx')) ? 'nginx' : 'http-proxy';
  const out = [
    '# Benchmarks',
    '',
    '<!-- Generated by `pnpm bench` (bench/run.js) from bench/results/latest.json; edits are overwritten.',
    '     `node bench/run.js --report` renders it again without measuring. -->',
    '',
    `Last run: ${fmtDate(res.date)}${res.quick ? ' (quick smoke pass: not for comparison)' : ''}.`,
    '',
    '## Machine',
    '',
    `- CPU: ${m.cpu}, ${m.cores} cores`,
    `- Memory: ${m.memoryGiB} GiB`,
    `- Kernel: ${m.kernel}${m.os ? ` (${m.os})` : ''}`,
    `- Node.js: ${m.node}`,
    `- Load average when the run started: ${m.loadAverage.join(', ')}`,
    '',
    '## Versions',
    '',
    ...Object.entries(v).map(([name, ver]) => `- ${name}: ${ver ?? 'not available (see Method)'}`),
    '',
    '## Method',
    '',
    '- One upstream for every peer: `bench/upstream.js`, a single-threaded uWebSockets.js server ' +
      '(`GET /` 13 bytes, `GET /64k` 64 KiB, `POST` reads the body and answers its length).',
    '- Load: autocannon (programmatic API) in the bench process, or wrk with `pnpm bench --load wrk` (one thread, ' +
      'a Lua script for the method and body; far less CPU per request than autocannon, so on a machine with few ' +
      'cores the proxy is not starved by its own load); keep-alive, the same settings for every peer. Each ' +
      'scenario names its load generator; HTTP/2 scenarios use h2load and TCP ones the bench\'s own clients.',
    '- Peers (`-N` in a name is its worker count; multi-worker peers run with 1 and with the default count, ' +
      'the machine\'s cores):',
    ...Object.entries(res.peers).map(([kind, how]) => `  - \`${kind}\`: ${how}${factsNote(res.facts?.[kind])}`),
    ...res.absent.map((a) => `  - \`${a.peer}\`: left out, ${a.reason}`),
    '- Every peer is started fresh for each scenario and warmed, then the peers run interleaved ' +
      '(A B C, B C A, ...) for the rounds listed; each figure is the median over the rounds ' +
      '(peak RSS: the largest reading).',
    '- errors: non-2xx responses plus socket errors and timeouts. CPU: user + system time of the proxy\'s ' +
      'processes (all threads, all child processes) from `/proc/PID/stat`, before and after each run, per ' +
      '10k completed requests. load gen CPU: the bench process\'s own CPU use during the run, as a share of one ' +
      'core (with wrk: wrk\'s); near 100% means the load generator, not the peer, set the pace.',
    '- Memory, from `/proc/PID/status` summed over the proxy\'s processes (nginx\'s master and workers, ' +
      'HAProxy\'s one process, Pillion\'s one process with its worker threads), MiB: **idle RSS** is `VmRSS` ' +
      'after start-up, before the warm-up, once five readings 100 ms apart agree within 1% (or after 5 s); ' +
      '**RSS under load** is the mean of `VmRSS` read every 250 ms during each measured run (the largest ' +
      'reading is kept in the JSON as `loadRssPeakKiB`), median over the rounds; **peak RSS** is `VmHWM`, ' +
      'the high-water mark over the peer\'s life, read after each run, largest over the rounds.',
    `- In brackets: the ratio to **${baselineKind}** with the same worker count (one-process peers compare ` +
      `with ${baselineKind === 'nginx' ? 'nginx-1' : 'it'}). For req/s higher is better; for the rest lower is better.`,
    ...(res.scenarios.some((s) => s.rows.some((r) => r.twinOf))
      ? [
          '- A row named `PEER@SHA` is that peer run from Pillion as built from an earlier commit ' +
            '(`pnpm bench --baseline REF`: a temporary git worktree of the commit, its dependencies installed offline ' +
            'from the pnpm store or linked from this checkout, its own `prepare` build), started the same way and ' +
            'measured in the same interleaved rounds. The line under its table names the commit and gives the ratios ' +
            'of this tree\'s row to it.',
        ]
      : []),
    ...(res.scenarios.some((s) => s.tls) ? [TLS_METHOD] : []),
    ...(res.scenarios.some((s) => s.load.streams) ? [H2_METHOD] : []),
    '',
    `> ${sharedCpuNote(m.cores, res.scenarios.some((s) => s.loadGenerator === 'autocannon') ? 'autocannon' : res.scenarios.some((s) => s.loadGenerator === 'wrk') ? 'wrk' : 'autocannon')}`,
    '',
    '## Results',
  ];
  for (const s of res.scenarios) {
    const st = s.settings;
    out.push(
      '',
      `### ${s.name}: ${s.title}`,
      '',
      `${describeLoad(s.load, s.tls)}${s.loadGenerator ? ` (load: ${s.loadGenerator})` : ''}; ${st.repeats} round${st.repeats === 1 ? '' : 's'} of ${st.duration} s after ` +
        `${st.warmup} s warm-up; measured ${fmtDate(s.date)}.`,
      '',
      renderTable(s),
    );
    if (scenarioChart(s) !== null) out.push('', `![${s.name}: req/s and proxy CPU per request, by peer](${chartPath(s.name)})`);
    for (const sk of s.skipped) out.push('', `- \`${sk.id}\` did not start: ${sk.reason.split('\n')[0]}`);
  }
  out.push('');
  return out.join('\n');
}
