/**
 * Config checking off the main thread. The schema library and the YAML parser it needs stay resident
 * for the life of the thread that loads them, for work done only at start, on a reload and on an
 * admin API endpoint change. So a worker thread of its own does it: started when a check is asked
 * for, stopped once idle.
 *
 * Checks are answered in the order they were asked.
 */
import { Worker } from 'node:worker_threads';
import type { EndpointConfig, ValidationResult } from '@pillion/core';
import type { Parsed } from './endpoint-api.js';

/** What the checking thread is asked. */
export type CheckRequest = { type: 'config'; text: string } | { type: 'endpoints'; body: unknown } | { type: 'weight'; body: unknown };
/** Its answer to one request: the result, or why it could not check. */
export type CheckReply = { id: number; result: unknown } | { id: number; error: string };

const CHECKER = new URL('./config-checker-thread.js', import.meta.url);
/** How long the checking thread is kept after its last check (an admin API client often sends a few). */
const IDLE_MS = 5000;

export class ConfigChecker {
  private worker: Worker | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private idleTimer: NodeJS.Timeout | null = null;

  /** A config file's text (YAML or JSON), parsed and validated in full. */
  config(text: string): Promise<ValidationResult> {
    return this.ask({ type: 'config', text }) as Promise<ValidationResult>;
  }

  /** The body of `PUT /clusters/NAME/endpoints`. */
  endpoints(body: unknown): Promise<Parsed<EndpointConfig[]>> {
    return this.ask({ type: 'endpoints', body }) as Promise<Parsed<EndpointConfig[]>>;
  }

  /** The body of `POST /clusters/NAME/endpoints/ADDRESS:PORT/weight`. */
  weight(body: unknown): Promise<Parsed<number>> {
    return this.ask({ type: 'weight', body }) as Promise<Parsed<number>>;
  }

  /** Stops the checking thread now; a later check starts another. */
  async close(): Promise<void> {
    this.clearIdle();
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private ask(req: CheckRequest): Promise<unknown> {
    this.clearIdle();
    const id = this.nextId++;
    const answer = new Promise<unknown>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    const w = this.thread();
    w.ref(); // an answer is awaited: keep the process up for it
    w.postMessage({ id, req });
    return answer;
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(CHECKER);
    w.on('message', (reply: CheckReply) => {
      const waiter = this.waiting.get(reply.id);
      if (!waiter) return;
      this.waiting.delete(reply.id);
      if ('error' in reply) waiter.reject(new Error(`config check failed: ${reply.error}`));
      else waiter.resolve(reply.result);
      if (this.waiting.size === 0 && this.worker === w) {
        w.unref();
        this.idleTimer = setTimeout(() => void this.close(), IDLE_MS).unref();
      }
    });
    const fail = (e: Error) => {
      if (this.worker === w) this.worker = null;
      for (const waiter of this.waiting.values()) waiter.reject(new Error(`config check failed: ${e.message}`));
      this.waiting.clear();
    };
    w.on('error', fail);
    w.on('exit', (code) => {
      if (this.waiting.size) fail(new Error(`the checking thread exited (${code})`));
      else if (this.worker === w) this.worker = null;
    });
    this.worker = w;
    return w;
  }

  private clearIdle(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}

