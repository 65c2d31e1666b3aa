import { createServer } from 'node:net';

/**
 * Ports for a test to listen on, free right now. They come from below the kernel's ephemeral range
 * (32768-60999 here), where the local ports of outgoing connections are picked: a port the kernel
 * handed out for `listen(0)` and released can be taken by any test's next outgoing connection before
 * the test binds it again. Each vitest worker process draws from its own span, in turn, so two test
 * files running at once never get the same port.
 */
const SPAN = 1500;
const FIRST = 17_000;
const SPANS = 10; // 17000-31999
const worker = Number(process.env.VITEST_POOL_ID ?? process.env.VITEST_WORKER_ID ?? process.pid);
const base = FIRST + ((Number.isFinite(worker) ? worker : process.pid) % SPANS) * SPAN;
let cursor = Math.floor(Math.random() * SPAN);

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** `n` distinct ports nothing listens on right now. */
export async function freePorts(n: number): Promise<number[]> {
  const ports: number[] = [];
  for (let tried = 0; ports.length < n; tried++) {
    if (tried >= SPAN) throw new Error(`no free port among ${base}-${base + SPAN - 1}`);
    const port = base + (cursor++ % SPAN);
    if (await canBind(port)) ports.push(port);
  }
  return ports;
}
