/**
 * The admin API, on loopback by default. Plain node:http: it serves operators and scrapers, not traffic.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { StatsJson } from './stats-json.js';

/** What `GET /metrics` reads; made on the first scrape, so a process nobody scrapes never loads prom-client. */
export type MetricsRegistry = Pick<Registry, 'metrics' | 'contentType'>;

export interface AdminHandlers {
  ready(): { ready: boolean; reason: string };
  config(): unknown;
  clusters(): unknown;
  /** `GET /stats`, and the data of the status page at `GET /`. */
  stats(): StatsJson | Promise<StatsJson>;
  drain(): void;
  /** Test-only fault switch; undefined unless PILLION_TEST_FAULTS=1. */
  crashWorker?: (thread: number) => boolean;
  /** `PUT /clusters/NAME/endpoints`: replaces a cluster's endpoints. */
  putEndpoints?: (cluster: string, body: unknown) => AdminReply | Promise<AdminReply>;
  /** `POST /clusters/NAME/endpoints/ADDRESS:PORT/weight`: sets one endpoint's weight. */
  setWeight?: (cluster: string, endpoint: string, body: unknown) => AdminReply | Promise<AdminReply>;
}

/** A JSON answer from a handler. */
export interface AdminReply {
  status: number;
  body: unknown;
}

/** Request bodies the admin API reads are small JSON documents. */
const MAX_BODY_BYTES = 1024 * 1024;
const ENDPOINTS_PATH = /^\/clusters\/([^/]+)\/endpoints$/;
const WEIGHT_PATH = /^\/clusters\/([^/]+)\/endpoints\/([^/]+)\/weight$/;

export class AdminServer {
  private server: Server | undefined;

  constructor(
    private readonly handlers: AdminHandlers,
    private readonly registry: () => Promise<MetricsRegistry>,
  ) {}

  listen(address: string, port: number): Promise<number> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((e: Error) => send(res, 500, { error: e.message }));
    });
    server.keepAliveTimeout = 5000;
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => {
        server.off('error', reject);
        const a = server.address();
        resolve(typeof a === 'object' && a ? a.port : port);
      });
    });
  }

  close(): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'GET /': {
        const [page, stats] = await Promise.all([import('./status-page.js'), this.handlers.stats()]);
        res.writeHead(200, page.PAGE_HEADERS).end(page.statusPage(stats));
        return;
      }
      case 'GET /stats':
        return send(res, 200, await this.handlers.stats());
      case 'GET /ready': {
        const r = this.handlers.ready();
        res.writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(`${r.reason}\n`);
        return;
      }
      case 'GET /metrics': {
        const registry = await this.registry();
        const text = await registry.metrics();
        res.writeHead(200, { 'content-type': registry.contentType }).end(text);
        return;
      }
      case 'GET /config':
        return send(res, 200, this.handlers.config());
      case 'GET /clusters':
        return send(res, 200, this.handlers.clusters());
      case 'POST /drain':
        this.handlers.drain();
        return send(res, 202, { draining: true });
      case 'POST /debug/crash-worker': {
        if (!this.handlers.crashWorker) break;
        const thread = Number(url.searchParams.get('thread') ?? 0);
        return send(res, this.handlers.crashWorker(thread) ? 202 : 404, { thread });
      }
    }
    const endpoints = ENDPOINTS_PATH.exec(url.pathname);
    if (endpoints && this.handlers.putEndpoints) {
      if (req.method !== 'PUT') return send(res, 405, { error: `${url.pathname} takes PUT` });
      const body = await readJson(req);
      if (!body.ok) return send(res, 400, { error: body.error });
      const r = await this.handlers.putEndpoints(decodeURIComponent(endpoints[1]!), body.value);
      return send(res, r.status, r.body);
    }
    const weight = WEIGHT_PATH.exec(url.pathname);
    if (weight && this.handlers.setWeight) {
      if (req.method !== 'POST') return send(res, 405, { error: `${url.pathname} takes POST` });
      const body = await readJson(req);
      if (!body.ok) return send(res, 400, { error: body.error });
      const r = await this.handlers.setWeight(decodeURIComponent(weight[1]!), decodeURIComponent(weight[2]!), body.value);
      return send(res, r.status, r.body);
    }
    send(res, 404, { error: `no admin endpoint ${route}` });
  }
}

async function readJson(req: IncomingMessage): Promise<{ ok: true; value: unknown } | { ok: false; error: string }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return { ok: false, error: `body over ${MAX_BODY_BYTES} bytes` };
    chunks.push(chunk);
  }
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString('utf8')) };
  } catch (e) {
    return { ok: false, error: `body is not JSON: ${(e as Error).message}` };
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body, null, 2) + '\n');
}
