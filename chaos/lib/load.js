// The load generator: `connections` lanes, each sending one request at a time over a keep-alive
// http.Agent, until stopped. Every request ends in exactly one outcome: `ok` (2xx with the body the
// request expected), `status-NNN`, `corrupt` (2xx whose body is not the expected one), `aborted` (the
// response started and then broke), `reset`, `refused`, `timeout`, `client-abort` (the lane gave up on
// purpose), `error-CODE`. A request may list outcomes it accepts (a 502 for a broken upstream): those
// count as succeeded. Latency goes into a histogram, and into a second one while the fault window is
// open.
import http from 'node:http';
import { LatencyHistogram } from '../../bench/lib/latency-histogram.js';

/**
 * @typedef {object} RequestSpec
 * @property {string} [method]
 * @property {string} path
 * @property {Buffer} [body]
 * @property {Record<string, string>} [headers]
 * @property {(body: Buffer) => boolean} [expect]  checks a 2xx body; false makes it `corrupt`
 * @property {string[]} [accept]                   outcomes besides `ok` that count as succeeded
 * @property {number} [abortAfterMs]               the client gives up after this long (`client-abort`)
 */

/**
 * @typedef {object} LoadResult
 * @property {number} sent
 * @property {number} succeeded
 * @property {Record<string, number>} outcomes      every outcome, accepted ones included
 * @property {Record<string, number>} failed        outcomes that did not count as succeeded
 * @property {number | null} p99Ms                  all succeeded requests
 * @property {number | null} p99FaultMs             succeeded requests that ended while the fault window was open
 * @property {number | null} firstFailureMs         since the start
 * @property {number | null} lastFailureMs
 * @property {number} seconds
 */

/**
 * @param {{ port: number, connections: number, next: (lane: number, n: number) => RequestSpec,
 *           timeoutMs?: number, pauseMs?: number, host?: string,
 *           onOutcome?: (outcome: string, startedMs: number, endedMs: number, spec: RequestSpec, res: http.IncomingMessage | null) => void }} o
 */
export function startLoad(o) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: o.connections, maxFreeSockets: o.connections });
  const all = new LatencyHistogram();
  const fault = new LatencyHistogram();
  /** @type {Record<string, number>} */
  const outcomes = {};
  /** @type {Record<string, number>} */
  const failed = {};
  let sent = 0;
  let succeeded = 0;
  let running = true;
  let faultOpen = false;
  /** @type {number | null} */
  let firstFailure = null;
  /** @type {number | null} */
  let lastFailure = null;
  const t0 = performance.now();
  const timeoutMs = o.timeoutMs ?? 10_000;

  /**
   * @param {RequestSpec} spec
   * @returns {Promise<void>}
   */
  const one = (spec) =>
    new Promise((resolve) => {
      const started = performance.now();
      sent++;
      let done = false;
      /** @type {http.IncomingMessage | null} */
      let response = null;
      /** @param {string} outcome */
      const finish = (outcome) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (abortTimer) clearTimeout(abortTimer);
        const ended = performance.now();
        outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
        if (outcome === 'ok' || spec.accept?.includes(outcome)) {
          succeeded++;
          all.record(ended - started);
          if (faultOpen) fault.record(ended - started);
        } else {
          failed[outcome] = (failed[outcome] ?? 0) + 1;
          firstFailure ??= ended - t0;
          lastFailure = ended - t0;
        }
        o.onOutcome?.(outcome, started - t0, ended - t0, spec, response);
        resolve();
      };
      const req = http.request({
        agent,
        host: o.host ?? '127.0.0.1',
        port: o.port,
        method: spec.method ?? 'GET',
        path: spec.path,
        headers: { ...(spec.body ? { 'content-length': String(spec.body.length) } : {}), ...spec.headers },
      });
      const timer = setTimeout(() => {
        finish('timeout');
        req.destroy();
      }, timeoutMs);
      const abortTimer =
        spec.abortAfterMs !== undefined
          ? setTimeout(() => {
              finish('client-abort');
              req.destroy();
            }, spec.abortAfterMs)
          : null;
      req.on('error', (/** @type {NodeJS.ErrnoException} */ err) => {
        if (response) return finish('aborted');
        const code = err.code ?? '';
        if (code === 'ECONNRESET' || code === 'EPIPE' || /socket hang up/.test(err.message)) finish('reset');
        else if (code === 'ECONNREFUSED') finish('refused');
        else finish(`error-${code || err.message}`);
      });
      req.on('response', (res) => {
        response = res;
        /** @type {Buffer[]} */
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('aborted', () => finish('aborted'));
        res.on('error', () => finish('aborted'));
        res.on('end', () => {
          if (!res.complete) return finish('aborted');
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) return finish(`status-${status}`);
          if (spec.expect && !spec.expect(Buffer.concat(chunks))) return finish('corrupt');
          finish('ok');
        });
      });
      req.end(spec.body);
    });

  const lane = async (/** @type {number} */ i) => {
    for (let n = 0; running; n++) {
      await one(o.next(i, n));
      if (o.pauseMs && running) await new Promise((r) => setTimeout(r, o.pauseMs));
    }
  };
  const lanes = Array.from({ length: o.connections }, (_, i) => lane(i));

  return {
    /** Opens or closes the window whose latencies are the "during the fault" figure. */
    faultWindow(/** @type {boolean} */ open) {
      faultOpen = open;
    },
    elapsedMs: () => performance.now() - t0,
    counts: () => ({ sent, succeeded, failed: { ...failed } }),
    /**
     * Stops sending and waits for the requests in flight to end.
     * @returns {Promise<LoadResult>}
     */
    async stop() {
      running = false;
      await Promise.all(lanes);
      agent.destroy();
      return {
        sent,
        succeeded,
        outcomes,
        failed,
        p99Ms: all.percentile(99),
        p99FaultMs: fault.percentile(99),
        firstFailureMs: firstFailure,
        lastFailureMs: lastFailure,
        seconds: (performance.now() - t0) / 1000,
      };
    },
  };
}

/** @param {string} prefix */
export const startsWith = (prefix) => (/** @type {Buffer} */ body) => body.toString('latin1').startsWith(prefix);
