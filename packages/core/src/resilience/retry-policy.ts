/**
 * Whether a failed attempt may be retried, and whether the retry budget has room for it.
 *
 * `retry.on` conditions, as Envoy means them:
 * - `connect-failure`: the connection to the upstream could not be made.
 * - `reset`: the upstream closed or reset the stream, or did not answer within `per_try_timeout`.
 * - `gateway-error`: 502, 503, 504, and the local failures the proxy itself answers with one of
 *   them (connect failure 503, reset 502, timeout 504).
 * - `5xx`: any 5xx, connect failures, resets and timeouts.
 * - `retriable-4xx`: 409 (Conflict), Envoy's one retriable 4xx.
 * - a status code (`"503"`, `429`): that response. This is the only way a 4xx other than 409 is
 *   ever retried.
 * - gRPC statuses by name (`cancelled`, `deadline-exceeded`, `resource-exhausted`, `unavailable`,
 *   `internal`): a gRPC answer carrying that `grpc-status` in its response head (a trailers-only
 *   response, the form every gRPC error takes before any message was sent).
 *
 * Whatever the conditions say, a request is not retried when its body outgrew the replay buffer,
 * and a request with a non-idempotent method (POST, PATCH, CONNECT, anything not GET, HEAD, OPTIONS,
 * PUT, DELETE or TRACE) is retried only when it provably never reached the upstream.
 */
import { DEFAULT_RETRY } from './defaults.js';
import type { UpstreamResult } from './upstream-result.js';

export type RetryCondition = 'connect-failure' | 'reset' | 'gateway-error' | '5xx' | 'retriable-4xx';
export type GrpcRetryCondition = 'cancelled' | 'deadline-exceeded' | 'resource-exhausted' | 'unavailable' | 'internal';

/** The gRPC status code of each gRPC `retry.on` name. */
const GRPC_CONDITIONS: Record<GrpcRetryCondition, number> = {
  cancelled: 1,
  'deadline-exceeded': 4,
  'resource-exhausted': 8,
  internal: 13,
  unavailable: 14,
};

const ON_CONNECT_FAILURE = 1;
const ON_RESET = 2;
const ON_GATEWAY_ERROR = 4;
const ON_5XX = 8;
const ON_RETRIABLE_4XX = 16;

const CONDITIONS: Record<RetryCondition, number> = {
  'connect-failure': ON_CONNECT_FAILURE,
  reset: ON_RESET,
  'gateway-error': ON_GATEWAY_ERROR,
  '5xx': ON_5XX,
  'retriable-4xx': ON_RETRIABLE_4XX,
};

const LISTED_MIN = 400;
const LISTED_MAX = 599;

/** A compiled `retry.on` list: a bit mask and a table of listed codes. Build once per route. */
export class RetryOn {
  private readonly mask: number;
  private readonly codes: Uint8Array;
  /** Bit n set: gRPC status n is retried. */
  readonly grpcMask: number;

  constructor(mask: number, codes: Uint8Array, grpcMask = 0) {
    this.mask = mask;
    this.codes = codes;
    this.grpcMask = grpcMask;
  }

  /** Whether a gRPC answer with this `grpc-status` is retried. */
  coversGrpc(status: number): boolean {
    return status > 0 && status < 31 && (this.grpcMask & (1 << status)) !== 0;
  }

  /** Whether the conditions cover this outcome (method and body rules aside). */
  covers(outcome: UpstreamResult): boolean {
    const mask = this.mask;
    switch (outcome) {
      case 'connect-failure':
        return (mask & (ON_CONNECT_FAILURE | ON_GATEWAY_ERROR | ON_5XX)) !== 0;
      case 'reset':
      case 'timeout':
        return (mask & (ON_RESET | ON_GATEWAY_ERROR | ON_5XX)) !== 0;
    }
    if (outcome >= LISTED_MIN && outcome <= LISTED_MAX && this.codes[outcome] === 1) return true;
    if (outcome >= 500 && outcome <= 599) {
      if ((mask & ON_5XX) !== 0) return true;
      return outcome >= 502 && outcome <= 504 && (mask & ON_GATEWAY_ERROR) !== 0;
    }
    return outcome === 409 && (mask & ON_RETRIABLE_4XX) !== 0;
  }
}

/** Why one `retry.on` entry is unusable, or undefined when it is fine. */
export function retryOnProblem(entry: unknown): string | undefined {
  if (typeof entry === 'string' && (Object.hasOwn(CONDITIONS, entry) || Object.hasOwn(GRPC_CONDITIONS, entry))) return undefined;
  if (listedCode(entry) !== undefined) return undefined;
  return (
    'expected connect-failure, reset, gateway-error, 5xx, retriable-4xx, a gRPC status (cancelled, deadline-exceeded, ' +
    'resource-exhausted, unavailable, internal) or a status code 400-599, got ' +
    JSON.stringify(entry)
  );
}

/** Compiles `retry.on`; throws a RangeError naming the first bad entry. */
export function compileRetryOn(entries: ReadonlyArray<string | number>): RetryOn {
  let mask = 0;
  let grpcMask = 0;
  const codes = new Uint8Array(LISTED_MAX + 1);
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (typeof entry === 'string' && Object.hasOwn(GRPC_CONDITIONS, entry)) {
      grpcMask |= 1 << GRPC_CONDITIONS[entry as GrpcRetryCondition];
      continue;
    }
    const bit = typeof entry === 'string' && Object.hasOwn(CONDITIONS, entry) ? CONDITIONS[entry as RetryCondition] : 0;
    if (bit !== 0) {
      mask |= bit;
      continue;
    }
    const code = listedCode(entry);
    if (code === undefined) throw new RangeError(`retry.on[${i}]: ${retryOnProblem(entry)}`);
    codes[code] = 1;
  }
  return new RetryOn(mask, codes, grpcMask);
}

function listedCode(entry: unknown): number | undefined {
  const code = typeof entry === 'number' ? entry : typeof entry === 'string' && /^\d{3}$/.test(entry) ? Number(entry) : NaN;
  return Number.isInteger(code) && code >= LISTED_MIN && code <= LISTED_MAX ? code : undefined;
}

/**
 * RFC 9110 idempotent methods. Methods are case-sensitive; the lower-case spellings are accepted
 * too because uWS's `getMethod()` hands them over that way. Anything else is treated as unsafe.
 */
export function isIdempotentMethod(method: string): boolean {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
    case 'PUT':
    case 'DELETE':
    case 'TRACE':
    case 'get':
    case 'head':
    case 'options':
    case 'put':
    case 'delete':
    case 'trace':
      return true;
    default:
      return false;
  }
}

/** What the pipeline knows about an attempt that failed; its per-request context can carry these. */
export interface AttemptFacts {
  outcome: UpstreamResult;
  method: string;
  /** False when no byte of the request was written to the upstream (a connect failure, or a
   * reused connection found closed before writing). */
  requestReachedUpstream: boolean;
  /** False once the body has outgrown the replay buffer and cannot be sent again. */
  bodyReplayable: boolean;
}

/**
 * Whether this attempt's failure may be retried. Attempts left, the `max_retries` breaker and the
 * retry budget are checked by the caller.
 */
export function shouldRetry(on: RetryOn, facts: AttemptFacts): boolean {
  if (!facts.bodyReplayable) return false;
  const outcome = facts.outcome;
  // A connect failure proves nothing was sent, whatever the flag says.
  const reached = outcome !== 'connect-failure' && facts.requestReachedUpstream;
  if (reached && !isIdempotentMethod(facts.method)) return false;
  return on.covers(outcome);
}

/**
 * Envoy's retry budget: retries in flight may be at most `budgetPercent` (default 20) of active
 * requests, rounded down, but `minRetryConcurrency` (default 3) are always allowed so a quiet
 * cluster can still retry. `activeRequests` counts every request in flight or pending (retries
 * included), `activeRetries` the retries in flight before this one, both summed over all workers.
 */
export function retryBudgetAllows(
  activeRequests: number,
  activeRetries: number,
  budgetPercent: number = DEFAULT_RETRY.budgetPercent,
  minRetryConcurrency: number = DEFAULT_RETRY.minRetryConcurrency,
): boolean {
  // Counting this retry, the share must stay within the budget: (retries + 1) <= percent of active.
  return activeRetries < minRetryConcurrency || (activeRetries + 1) * 100 <= budgetPercent * activeRequests;
}
