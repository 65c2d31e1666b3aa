/**
 * `codec: h2c`: an HTTP listener that speaks HTTP/2 with prior knowledge on a cleartext port (Node's
 * http2 server on the shared SO_REUSEPORT port of every worker; the kernel spreads connections, and
 * each connection's streams stay with the worker that accepted it). Node's cleartext HTTP/2 server
 * cannot also serve HTTP/1.1 on the same port, so a listener is one or the other.
 */
import type { HttpListenerConfig, PeerIdentity } from '@pillion/core';
import { listenShared } from '../l4/listen-shared.js';
import type { Logger } from '../logger.js';
import type { Downstream } from '../worker/downstream.js';
import { HttpListener, type HttpHost } from '../worker/http-listener.js';
import type { H2Downstream } from './h2-downstream.js';
import { H2Sessions } from './h2-sessions.js';

export class H2cListener extends HttpListener {
  private readonly h2: H2Sessions;

  constructor(config: HttpListenerConfig, slot: number, runtime: HttpHost) {
    super(config, slot, runtime);
    this.h2 = new H2Sessions(this);
  }

  async listen(): Promise<void> {
    await listenShared(this.h2.server, this.config.address, this.config.port);
  }

  override update(config: HttpListenerConfig): void {
    super.update(config);
    this.h2.update(config);
  }

  protected override openStreams(): number {
    return this.h2.openStreams;
  }

  clientAddress(res: Downstream): string {
    return (res as H2Downstream).remoteAddress;
  }

  override clientIdentity(res: Downstream): PeerIdentity | null {
    return (res as H2Downstream).identity;
  }

  stopAccepting(): void {
    this.draining = true;
    this.h2.server.close();
    this.h2.stopAccepting();
  }

  close(log: Logger): void {
    this.stopAccepting();
    this.h2.close(log);
  }
}
