// The parts of untyped dependencies the bench uses, so `tsc -p bench` can check the JSDoc.

declare module 'autocannon' {
  import type { EventEmitter } from 'node:events';
  function autocannon(opts: Record<string, unknown>, cb: (err: Error | null, result: any) => void): EventEmitter;
  export default autocannon;
}

declare module 'http-proxy' {
  import type { Agent, IncomingMessage, ServerResponse } from 'node:http';
  import type { Socket } from 'node:net';
  interface ProxyServer {
    web(req: IncomingMessage, res: ServerResponse): void;
    on(event: 'error', listener: (err: Error, req: IncomingMessage, res: ServerResponse | Socket) => void): this;
  }
  function createProxyServer(options: { target: string; agent?: Agent; xfwd?: boolean }): ProxyServer;
  const httpProxy: { createProxyServer: typeof createProxyServer };
  export default httpProxy;
}
