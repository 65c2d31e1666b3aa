// What the scenarios found in Pillion, for the doc: each was fixed with a regression test, or is a
// limit that stays (and why).

export const FINDINGS = [
  {
    scenario: '3. worker crash',
    found:
      'A worker thread that died kept its share of the shared counters forever: its upstream connections (closed with it) stayed in `upstream_connections_active` and in the endpoint\'s `active_connections`, which `circuit_breaker.max_connections` counts, so every crash took connections away from the cluster for good.',
    fixed:
      'Each thread keeps its own share of the counters that say what it holds (cluster and endpoint active requests, pending requests, retries, connections, warm connections) in a row of the shared memory; the supervisor gives a dead thread\'s share back before starting its replacement. Regression test: `test/e2e/worker-crash-releases-counters.test.ts`; unit test: `packages/core/test/shared-state-held.test.ts`.',
  },
  {
    scenario: '5. SIGTERM under load',
    found:
      'Keep-alive clients were served on their open connections for the whole drain: a drain under steady traffic lasted `drain_timeout` and then cut the request each connection had in flight (100 connections: 100 requests reset), and under light traffic it could close a connection under a request just sent.',
    fixed:
      'While draining, every proxied HTTP/1.x response says `connection: close`, so clients leave after their current request and the drain ends when those do (0.14 s instead of 10 s here). Regression test: `test/e2e/drain-closes-keep-alive.test.ts`.',
  },
  {
    scenario: '7. fd exhaustion',
    found:
      'The `http1-strict` listener had no `error` handler on its server: an accept error Node reports (when libuv has lost its reserve descriptor) would have been thrown in the worker and ended the thread; the `tcp` listener logged every accept error, a line per failure in a tight loop. No warning said the open-file limit was too small for the config.',
    fixed:
      'Accept errors are counted (`pillion_accept_errors_total{listener}`) and logged at most once per listener, worker and 10 s; start-up and `pillion validate` warn when `ulimit -n` is below the config\'s descriptor budget (README, Reliability). Tests: `packages/workers/test/accept-errors.test.ts`, `packages/workers/test/descriptor-limit.test.ts`, `packages/core/test/descriptor-budget.test.ts`, `test/e2e/descriptor-limit-warning.test.ts`.',
  },
  {
    scenario: '7. fd exhaustion (uws)',
    found:
      'Out of descriptors, a `uws` listener spins a core and JavaScript never hears of it (its accept-error path is empty); this uWS build has no per-connection open/close hook, so connections cannot be counted and HTTP listeners get no `max_connections`.',
    fixed:
      'Remains: the start-up warning and `process_open_fds` / `process_max_fds` are the defence; service resumes as soon as descriptors free up. Node\'s listeners (`http1-strict`, `tcp`) sometimes spin too while exhausted (up to a core per worker thread, in some runs and not others) with no accept error reaching JavaScript: inside libuv, not pinned down.',
  },
];
