/**
 * What tracing costs one request on its own, away from sockets: begin (extract or start a context,
 * the head decision), one attempt (a CLIENT span and `traceparent` injected into the upstream
 * headers), its result and end, and finish, against a request that does none of it. The exporter is
 * replaced by one that drops what it is handed, so this is the request path's share alone.
 *
 *   node scripts/trace-path-cost.js [--ratio 0.01] [--errors true] [--propagation w3c] [--n 1000000] [--rounds 5]
 *
 * Prints ns per request for each round (the first rounds include V8's warm-up). Run `pnpm build` first.
 */
import { parseArgs } from 'node:util';
import { HeaderList } from '../packages/core/dist/index.js';
import { WorkerTracing } from '../packages/workers/dist/tracing/worker-tracing.js';
import { ListenerTracing } from '../packages/workers/dist/tracing/listener-tracing.js';

const { values: opt } = parseArgs({
  options: {
    ratio: { type: 'string', default: '0.01' },
    errors: { type: 'string', default: 'true' },
    propagation: { type: 'string', default: 'w3c' },
    n: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '5' },
  },
});

const stats = new Proxy({}, { get: () => () => {} });
const tracer = new WorkerTracing(stats);
const top = {
  propagation: opt.propagation.split(','),
  sampling: { ratio: Number(opt.ratio), errors: opt.errors === 'true' },
  otlp: { endpoint: 'http://127.0.0.1:9/v1/traces', headers: {}, batch: { max_queue: 2048, max_batch: 512, interval: 1000 } },
  service_name: 'pillion',
};
const dropping = { enqueue() {} };
const listener = new ListenerTracing(tracer, dropping, 0, top, { name: 'web', port: 8080 });
const endpoint = { key: '127.0.0.1:9001', address: '127.0.0.1', port: 9001 };

function round(n, traced) {
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const headers = new HeaderList(['host', 'localhost:8080', 'user-agent', 'wrk', 'accept', '*/*']);
    if (traced) {
      const start = performance.now();
      const trace = listener.begin(headers, start);
      trace.attemptStart(0, 'api', endpoint, headers, start);
      trace.attemptResult(200);
      trace.attemptEnd(start + 1);
      trace.finish('GET', '/', 'route-0', 'api', 200, false, 0, 13, '127.0.0.1');
      sink += trace.traceId.length;
    } else {
      performance.now();
    }
    sink += headers.raw.length;
  }
  if (sink === 0) throw new Error('unreachable');
  return Number(process.hrtime.bigint() - t0) / n;
}

const n = Number(opt.n);
console.log(`ratio ${opt.ratio}, errors ${opt.errors}, propagation ${opt.propagation}; ns per request`);
for (let r = 0; r < Number(opt.rounds); r++) {
  const off = round(n, false);
  const on = round(n, true);
  console.log(`round ${r + 1}: untraced ${off.toFixed(1)}, traced ${on.toFixed(1)}, tracing ${(on - off).toFixed(1)}`);
}
