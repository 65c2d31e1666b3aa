/**
 * The default HTTP/1.1 codec: uWebSockets.js. Fastest, but its parser gives no reply to some
 * malformed requests and it refuses pipelining (a request arriving while the previous response is
 * pending closes the connection). See docs/http1-limits.md.
 */
import { HeaderList, type HttpListenerConfig } from '@pillion/core';
import type { Logger } from '../logger.js';
import type { HttpRequest, HttpResponse, TemplatedApp, Uws, us_listen_socket } from '../uws.js';
import type { Downstream } from './downstream.js';
import { HttpListener, type HttpHost } from './http-listener.js';
import { ProxyExchange } from './proxy-exchange.js';

// req.forEach target without a closure per request: uWS calls it synchronously.
let collecting: string[] = [];
function collectHeader(name: string, value: string): void {
  collecting.push(name, value);
}

export class UwsHttpListener extends HttpListener {
  private app: TemplatedApp | null = null;
  private listenSocket: us_listen_socket | null = null;

  constructor(
    private readonly uws: Uws,
    config: HttpListenerConfig,
    slot: number,
    runtime: HttpHost,
  ) {
    super(config, slot, runtime);
    this.deferForward = true;
  }

  listen(): Promise<void> {
    const app = this.uws.App();
    this.app = app;
    app.any('/*', this.onRequest.bind(this));
    return new Promise((resolve, reject) => {
      app.listen(this.config.address, this.config.port, (socket) => {
        if (!socket) {
          reject(new Error(`cannot listen on ${this.config.address}:${this.config.port} (listener ${this.config.name})`));
          return;
        }
        this.listenSocket = socket;
        resolve();
      });
    });
  }

  private onRequest(res: HttpResponse, req: HttpRequest): void {
    const method = req.getCaseSensitiveMethod();
    const query = req.getQuery();
    const url = req.getUrl();
    collecting = [];
    req.forEach(collectHeader);
    new ProxyExchange(this, res, method, query ? `${url}?${query}` : url, new HeaderList(collecting), 1);
  }

  clientAddress(res: Downstream): string {
    return Buffer.from((res as HttpResponse).getRemoteAddressAsText()).toString();
  }

  stopAccepting(): void {
    this.draining = true;
    if (this.listenSocket) {
      this.uws.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
  }

  close(log: Logger): void {
    this.stopAccepting();
    if (this.app) {
      try {
        // TemplatedApp.close() exists in this build but not in its .d.ts: it closes every connection.
        (this.app as unknown as { close(): void }).close();
      } catch (e) {
        log.warn({ err: (e as Error).message }, 'closing uWS app');
      }
      this.app = null;
    }
  }
}
