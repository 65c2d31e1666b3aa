// Shapes shared by the bench modules, as JSDoc so the suite runs without a build step.

/**
 * What a scenario asks of autocannon. Every peer gets exactly the same load.
 * @typedef {object} LoadSpec
 * @property {number} connections
 * @property {string} path
 * @property {'GET' | 'POST' | 'PUT'} [method]
 * @property {number} [bodyBytes]   size of the request body, sent on every request
 * @property {number} [pipelining]
 * @property {number} [streams]     HTTP/2 scenarios: concurrent streams per connection (h2load `-m`)
 */

/**
 * One measured run of one peer.
 * @typedef {object} Sample
 * @property {number | null} rps       completed requests per second (null: a scenario that measures latency only)
 * @property {number | null} p50       latency, ms
 * @property {number | null} p99       latency, ms
 * @property {number} errors           non-2xx responses + socket errors and timeouts
 * @property {number} requests         completed requests
 * @property {number} seconds          measured wall time
 * @property {number | null} cpuPer10k proxy CPU seconds (user + system, whole process tree) per 10k requests
 * @property {number | null} rssKiB    proxy peak RSS (VmHWM summed over its processes) after this run
 * @property {number | null} [loadRssKiB]      proxy RSS under load: mean of VmRSS (summed over its processes) read every 250 ms during the run
 * @property {number | null} [loadRssPeakKiB]  the largest of those readings
 * @property {number} [loadRssReadings]        how many readings there were
 * @property {number | null} upstreamCpuPer10k
 * @property {number} loadCpu          the load generator's CPU use as a fraction of one core
 * @property {Record<string, number | null>} [extra]  scenario-specific figures (success rate, kill time), kept in the results
 */

/**
 * @typedef {object} MeasureContext
 * @property {string} url              base URL of the peer (no trailing slash)
 * @property {number} seconds          how long to load it
 * @property {number | null} pid       root pid of the proxy's process tree (null: no proxy)
 * @property {number} upstreamPid
 */

/**
 * A scenario is a file in bench/scenarios/ whose default export has this shape.
 * @typedef {object} Scenario
 * @property {string} name              picked on the command line: `pnpm bench <name>`
 * @property {string} title
 * @property {number} order             position in a full run
 * @property {LoadSpec} load
 * @property {boolean} [tls]            the peers serve HTTPS with the bench's certificate (lib/tls-certs.js), so the
 *   load speaks TLS; peer kinds without TLS support are left out by the scenario's `peers` or `variants`
 * @property {{ upstream: 'http1' | 'h2c' }} [http2]  the peers serve cleartext HTTP/2 with prior knowledge (h2c) and
 *   speak `upstream` to the upstream; the load is h2load (lib/h2-load.js), so such a scenario has its own `measure` and `warm`
 * @property {string[]} [peers]         peer kinds it applies to (default: all installed)
 * @property {(config: PillionConfig) => PillionConfig} [pillionConfig]  adjusts Pillion's config (filters, pools)
 * @property {(ctx: MeasureContext, scenario: Scenario) => Promise<Sample>} [measure]  replaces the autocannon run
 * @property {(url: string, seconds: number) => Promise<void>} [warm]  replaces the autocannon warm-up (a scenario with
 *   its own `measure` is otherwise not warmed)
 * @property {(selected: ReadonlyArray<import('./run-scenario.js').ReadyVariant>) => import('./run-scenario.js').ReadyVariant[]} [variants]
 *   the rows, made from the installed and selected peers (e.g. Pillion with and without a filter); replaces `peers`
 * @property {(row: { id: string, kind: string, workers: number }, rows: ReadonlyArray<{ id: string, kind: string, workers: number }>) => string | null} [baseline]
 *   the row each row's ratios compare with (default: nginx with the same worker count, else http-proxy)
 * @property {(ctx: NotesContext) => Promise<ScenarioNotes>} [notes]
 *   runs after the rounds while the peers still run; its lines follow the table
 */

/**
 * What a scenario's `notes` gets: every row's running peer and samples so far.
 * @typedef {object} NotesContext
 * @property {{ id: string, url: string, pid: number | null, samples: Sample[] }[]} rows
 * @property {{ duration: number, warmup: number, repeats: number }} settings
 * @property {(line: string) => void} log
 */

/**
 * @typedef {object} ScenarioNotes
 * @property {string[]} lines          shown under the table, in the console and the doc
 * @property {Record<string, unknown>} [data]  kept in the results JSON
 */

/** @typedef {Record<string, unknown>} PillionConfig */

/**
 * @typedef {object} PeerStartContext
 * @property {string} root              repository root
 * @property {string} dir               a fresh folder for this peer's config, logs and pid files
 * @property {number} port              where the peer listens
 * @property {{ host: string, port: number }} upstream
 * @property {number} workers
 * @property {Scenario} scenario
 * @property {Record<string, unknown>} facts  what the kind's probe learned (e.g. which config keys it accepts)
 */

/**
 * @typedef {object} RunningPeer
 * @property {string} url
 * @property {number | null} pid        root of the process tree whose CPU and memory are measured
 * @property {() => Promise<void>} stop
 * @property {(ctx: MeasureContext, scenario: Scenario) => Promise<Sample>} [measure]
 *   a peer that measures itself (a fresh process per measurement: cold start, failover); not warmed
 */

/**
 * A kind of peer; multi-worker kinds run once with 1 worker and once with the default count.
 * @typedef {object} PeerKind
 * @property {string} name
 * @property {string} [family]          the kind it stands in for where a scenario names kinds (`peers`):
 *   Pillion built from another commit (`--baseline`) is a `pillion`
 * @property {string} describe          one line on how it is set up, for the doc
 * @property {boolean} multiWorker
 * @property {(ctx: { root: string, dir: string }) => Promise<ProbeResult>} probe  is it installed and usable here
 * @property {(ctx: PeerStartContext) => Promise<RunningPeer>} start
 */

/**
 * @typedef {{ ok: true, version: string, facts?: Record<string, unknown> } | { ok: false, reason: string }} ProbeResult
 */

/**
 * @typedef {object} PeerVariant
 * @property {string} id                e.g. `nginx-2`
 * @property {PeerKind} kind
 * @property {number} workers
 */

export {};
