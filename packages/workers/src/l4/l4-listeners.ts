/**
 * A worker's layer-4 listeners, started, drained and closed together: the worker runtime holds one of
 * these next to its HTTP listeners.
 */
import type { Logger } from '../logger.js';
import type { L4Host } from './l4-host.js';
import { TcpListener } from './tcp-listener.js';
import { UdpListener } from './udp-listener.js';

export class L4Listeners {
  readonly tcp: TcpListener[] = [];
  readonly udp: UdpListener[] = [];

  constructor(private readonly host: L4Host) {}

  /** Listens on every tcp and udp listener of the running config. */
  async listen(listenerSlots: Record<string, number>): Promise<void> {
    for (const l of this.host.config.listeners) {
      if (l.protocol === 'tcp') {
        const listener = new TcpListener(l, listenerSlots[l.name]!, this.host);
        this.tcp.push(listener);
        await listener.listen();
      } else if (l.protocol === 'udp') {
        const listener = new UdpListener(l, listenerSlots[l.name]!, this.host);
        this.udp.push(listener);
        await listener.listen();
      }
    }
  }

  stopAccepting(): void {
    for (const l of this.tcp) l.stopAccepting();
    for (const l of this.udp) l.stopAccepting();
  }

  /** Resolves when every connection and session has ended or `timeoutMs` passed; returns how many are left. */
  async idle(timeoutMs: number): Promise<number> {
    const left = await Promise.all([...this.tcp.map((l) => l.idle(timeoutMs)), ...this.udp.map((l) => l.idle(timeoutMs))]);
    return left.reduce((a, b) => a + b, 0);
  }

  close(log?: Logger): void {
    for (const l of this.tcp) l.close(log);
    for (const l of this.udp) l.close(log);
  }
}
