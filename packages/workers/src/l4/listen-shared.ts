/**
 * The layer-4 acceptor: every worker listens on the same TCP port and the kernel spreads connections
 * over them (SO_REUSEPORT). Node >= 22.12 sets the option itself (`reusePort: true`); Node 20 cannot,
 * so there the socket is made and bound by `node-unix-socket` and handed to `server.listen({ fd })`.
 * Callers never see which.
 */
import { lookup } from 'node:dns/promises';
import { createRequire } from 'node:module';
import { isIP, type Server } from 'node:net';

/** Whether `net` takes `reusePort` itself: Node 22.12 and later. */
export function nativeReusePort(version: string = process.versions.node): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return major > 22 || (major === 22 && minor >= 12);
}

interface ReuseportAddon {
  createReuseportFd(port: number, host: string): number;
  closeFd(fd: number): void;
}

let addon: ReuseportAddon | null = null;
/** Loaded on first use only, so a Node that does not need the native addon never loads it. */
function reuseportAddon(): ReuseportAddon {
  addon ??= createRequire(import.meta.url)('node-unix-socket') as ReuseportAddon;
  return addon;
}

/**
 * Listens on `address:port` with SO_REUSEPORT, so that the other workers can listen on the same port.
 * `address` may be a host name; it is resolved once (the addon binds IP addresses only).
 */
export async function listenShared(server: Server, address: string, port: number): Promise<void> {
  if (nativeReusePort()) {
    await listenOn(server, { host: address, port, reusePort: true } as Parameters<Server['listen']>[0] & { reusePort: boolean });
    return;
  }
  const ip = isIP(address) ? address : (await lookup(address)).address;
  const { createReuseportFd, closeFd } = reuseportAddon();
  const fd = createReuseportFd(port, ip);
  try {
    await listenOn(server, { fd });
  } catch (e) {
    // listen() failed before the server took the descriptor over.
    try {
      closeFd(fd);
    } catch {
      // already closed by the failed listen
    }
    throw e;
  }
}

function listenOn(server: Server, options: Parameters<Server['listen']>[0]): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once('error', onError);
    server.listen(options, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
