import { HeaderList } from '@pillion/core';
import type { FilterChainState } from './chain-state.js';
import type { FilterRequest } from './filter-request.js';

export interface LocalReply {
  status: number;
  body: string;
  headers: HeaderList | undefined;
}

export interface RecordingRequestInit {
  method?: string;
  path?: string;
  authority?: string;
  clientAddress?: string;
  clientIdentity?: string;
  /** name, value, name, value, ... (names lower-case) */
  headers?: string[];
}

/**
 * A FilterRequest that only records what filters did: the request the SDK's test harness drives
 * through a chain, and a reference for what the pipeline's own implementation must do.
 */
export class RecordingRequest implements FilterRequest {
  method: string;
  path: string;
  authority: string;
  clientAddress: string;
  clientIdentity: string;
  readonly requestHeaders: HeaderList;
  responseHeaders: HeaderList | null = null;
  responseStatus = 0;
  filterState: FilterChainState | null = null;
  localReply: LocalReply | null = null;
  cluster: string | null = null;

  constructor(init: RecordingRequestInit = {}) {
    this.method = init.method ?? 'GET';
    this.path = init.path ?? '/';
    this.authority = init.authority ?? 'localhost';
    this.clientAddress = init.clientAddress ?? '127.0.0.1';
    this.clientIdentity = init.clientIdentity ?? '';
    this.requestHeaders = new HeaderList(init.headers ? init.headers.slice() : []);
  }

  sendLocalReply(status: number, body: string, headers?: HeaderList): void {
    this.localReply = { status, body, headers };
  }

  setCluster(name: string): void {
    this.cluster = name;
  }

  /** The upstream answered (or a local reply is passed back through the chain). */
  respond(status: number, headers: HeaderList): void {
    this.responseStatus = status;
    this.responseHeaders = headers;
  }
}
