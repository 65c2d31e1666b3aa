import type { Server } from 'node:http';
// The demo's upstreams are the tests' upstreams too: one implementation of "a service behind the proxy".
import { startUpstream as start } from '../../examples/demo-upstreams.js';

export const startUpstream = start as (name: string, port: number, host?: string) => Promise<Server>;

export function closeServer(s: Server): Promise<void> {
  return new Promise((resolve) => {
    s.close(() => resolve());
    s.closeAllConnections();
  });
}
