/**
 * A request as the filter chain sees it (FilterRequest): what filters read and change through host
 * calls, and the reply one of them recorded. The exchange is one; this is the part of it filters touch.
 */
import { HeaderList, type PeerIdentity } from '@pillion/core';
import type { FilterChain, FilterChainState, FilterRequest } from '../wasm/index.js';

/** A reply recorded by a filter (FilterRequest.sendLocalReply). */
export interface FilterReply {
  status: number;
  body: string;
  headers: HeaderList | null;
}

export abstract class FilteredRequest implements FilterRequest {
  filterState: FilterChainState | null = null;
  /** The request target with its query; filters may rewrite it. */
  path: string;
  responseHeaders: HeaderList | null = null;
  /** The status answered (the upstream's or the proxy's own); 0 until there is one. */
  responseStatus = 0;
  /** The cluster a filter chose instead of the route's; null when none did. */
  protected clusterOverride: string | null = null;
  private filterReply: FilterReply | null = null;

  constructor(
    readonly method: string,
    readonly requestHeaders: HeaderList,
    target: string,
    readonly clientAddress: string,
    /** The client's verified TLS certificate, kept by the connection; null without one. */
    readonly peer: PeerIdentity | null,
  ) {
    this.path = target;
  }

  get clientIdentity(): string {
    return this.peer === null ? '' : this.peer.name;
  }

  get authority(): string {
    return this.requestHeaders.get('host') ?? '';
  }

  sendLocalReply(status: number, body: string, headers?: HeaderList): void {
    this.filterReply = { status, body, headers: headers ?? null };
  }

  setCluster(name: string): void {
    this.clusterOverride = name;
  }

  /**
   * The reply a filter recorded (500 when a chain stopped without one). For a reply made in the
   * request phase, filters first see it as the response (so they can decorate it), as they would an
   * upstream's.
   */
  protected filterAnswer(chain: FilterChain | null, requestPhase: boolean): FilterReply {
    let reply = this.filterReply ?? { status: 500, body: 'filter error\n', headers: null };
    if (requestPhase && chain !== null) {
      this.responseStatus = reply.status;
      this.responseHeaders = reply.headers ?? new HeaderList();
      reply.headers = this.responseHeaders;
      chain.onResponseHeaders(this);
      reply = this.filterReply ?? reply;
    }
    this.responseStatus = reply.status;
    return reply;
  }
}
