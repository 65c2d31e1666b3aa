/**
 * The admin API, on loopback by default. Plain node:http: it serves operators and scrapers, not traffic.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

export interface AdminHandlers {
  ready(): { ready: boolean; reason: string };
  config(): unknown;
  clusters(): unknown;
  drain(): void;
  /** Test-only fault switch; undefined unless PILLION_TEST_FAULTS=1. */
  crashWorker?: (thread: number) => boolean;
}

export class AdminServer {
  private server: Server | undefined;

  constructor(
    private readonly handlers: AdminHandlers,
    private readonly registry: Registry,
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
      case 'GET /ready': {
        const r = this.handlers.ready();
        res.writeHead(r.ready ? 200 : 503, { 'content-type': 'text/plain' }).end(`${r.reason}\n`);
        return;
      }
      case 'GET /metrics': {
        const text = await this.registry.metrics();
        res.writeHead(200, { 'content-type': this.registry.contentType }).end(text);
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
    send(res, 404, { error: `no admin endpoint ${route}` });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body, null, 2) + '\n');
}
