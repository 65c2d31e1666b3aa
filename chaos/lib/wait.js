// Waiting on a condition, and reading Prometheus text.
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls `check` until it returns true; throws after `timeoutMs`.
 * @param {() => boolean | Promise<boolean>} check
 * @param {{ timeoutMs?: number, intervalMs?: number, what?: string }} [o]
 */
export async function waitUntil(check, o = {}) {
  const deadline = Date.now() + (o.timeoutMs ?? 10_000);
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${o.what ?? 'a condition'}`);
    await sleep(o.intervalMs ?? 50);
  }
}

/**
 * Sum of every sample of `name` whose labels include `labels`.
 * @param {string} text
 * @param {string} name
 * @param {Record<string, string>} [labels]
 */
export function metricSum(text, name, labels = {}) {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const ls = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => ls[k] === v)) sum += Number(m[3]);
  }
  return sum;
}
