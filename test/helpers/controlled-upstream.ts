/**
 * Upstreams whose behaviour a test changes while they run (slow, failing, failing health checks,
 * gone and back on the same port), and a small load loop that records which upstream answered each
 * request and every failure.
 */
import { createServer, type Server } from 'node:http';
import { Agent, request } from 'undici';

export interface ControlledUpstream {
  readonly name: string;
  readonly port: number;
  /** Status of every answer except /health. */
  status: number;
  /** Status of GET /health. */
  healthStatus: number;
  /** Delay before every answer except /health, in ms. */
  delayMs: number;
  /** Requests answered (not /health). */
  requests: number;
  /** Stops listening and cuts every connection. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
}

/** `host`: the loopback address to listen on (127.0.0.2 and friends give upstreams on one port, for DNS answers). */
export async function startControlledUpstream(name: string, port: number, host = '127.0.0.1'): Promise<ControlledUpstream> {
  let server: Server | null = null;
  const u: ControlledUpstream = {
    name,
    port,
    status: 200,
    healthStatus: 200,
    delayMs: 0,
    requests: 0,
    async start() {
      const s = createServer((req, res) => {
        req.resume();
        req.on('end', () => {
          res.setHeader('x-upstream', name);
          if (req.url === '/health') {
            res.statusCode = u.healthStatus;
            res.end('health\n');
            return;
          }
          u.requests++;
          const reply = () => {
            res.statusCode = u.status;
            res.setHeader('content-type', 'application/json');
            res.end(JSON.stringify({ upstream: name }) + '\n');
          };
          const delay = u.delayMs;
          if (delay > 0) setTimeout(reply, delay);
          else reply();
        });
      });
      s.keepAliveTimeout = 60_000;
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, host, () => resolve());
      });
      server = s;
    },
    stop() {
      const s = server;
      server = null;
      if (!s) return Promise.resolve();
      return new Promise((resolve) => {
        s.close(() => resolve());
        s.closeAllConnections();
      });
    },
  };
  await u.start();
  return u;
}

/** One request on a fresh connection (so the kernel may hand it to any worker); the answering upstream. */
export async function freshRequest(url: string, headers: Record<string, string> = {}): Promise<{ status: number; upstream: string }> {
  const agent = new Agent({ pipelining: 0 });
  try {
    const r = await request(url, { dispatcher: agent, headers });
    await r.body.text();
    return { status: r.statusCode, upstream: String(r.headers['x-upstream'] ?? '') };
  } finally {
    await agent.close();
  }
}

export interface LoadResult {
  ok: number;
  failures: string[];
  /** Upstream of each successful answer, in the order they arrived. */
  upstreams: string[];
}

/** Keeps `concurrency` keep-alive requests in flight until stopped. */
export function startLoad(url: string, concurrency: number): { stop(): Promise<LoadResult>; result: LoadResult } {
  const agent = new Agent({ connections: concurrency, pipelining: 1 });
  const result: LoadResult = { ok: 0, failures: [], upstreams: [] };
  let running = true;
  const loop = async () => {
    while (running) {
      try {
        const r = await request(url, { dispatcher: agent });
        await r.body.text();
        if (r.statusCode === 200) {
          result.ok++;
          result.upstreams.push(String(r.headers['x-upstream'] ?? ''));
        } else {
          result.failures.push(`status ${r.statusCode}`);
        }
      } catch (e) {
        result.failures.push((e as Error).message);
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    result,
    async stop() {
      running = false;
      await Promise.all(loops);
      await agent.close();
      return result;
    },
  };
}
