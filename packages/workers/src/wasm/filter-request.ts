import type { HeaderList } from '@pillion/core';
import type { FilterChainState } from './chain-state.js';

/**
 * One request as the filter chain sees it. The L7 pipeline implements this per request (a plain
 * object or its own request class) and hands the same object to every FilterChain call of that
 * request. Filters read and change it through host calls, one field at a time.
 */
export interface FilterRequest {
  readonly method: string;
  /** Path with query. Filters may rewrite it; the pipeline forwards whatever it holds. */
  path: string;
  /** Host (and port) the client asked for. */
  readonly authority: string;
  /** The client's IP address. */
  readonly clientAddress: string;
  /** The name of the client's verified TLS certificate (PeerIdentity.name); '' without one. */
  readonly clientIdentity: string;
  /** Headers to forward upstream; filters change them in place. */
  readonly requestHeaders: HeaderList;
  /**
   * Upstream response headers: null until the response (or a local reply being passed back
   * through the chain) arrives. Filters change them in place before they go downstream.
   */
  readonly responseHeaders: HeaderList | null;
  /** Upstream response status; 0 until the response arrives. */
  readonly responseStatus: number;
  /**
   * Records the reply to send instead of forwarding (or instead of the upstream response).
   * A later call replaces an earlier one. The chain then returns `Action.LocalReply`; the
   * pipeline sends the reply.
   */
  sendLocalReply(status: number, body: string, headers?: HeaderList): void;
  /** Sends the request to another cluster than the route picked. */
  setCluster(name: string): void;
  /**
   * Owned by FilterChain: set it to null when the request object is made, and never touch it
   * otherwise. Holds which filter instances serve this request (see FilterChain).
   */
  filterState: FilterChainState | null;
}
