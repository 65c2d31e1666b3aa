/**
 * What one DNS answer does to a name's endpoints, and when the name is asked again.
 *
 * - An answer with records replaces the name's endpoints.
 * - A failed query (timeout, SERVFAIL, refused, no resolver reachable) changes nothing: the last good
 *   endpoints keep serving. Stale data beats an empty cluster while DNS has a bad minute.
 * - An empty answer (NXDOMAIN, or the name has no records of the type asked) empties the name only
 *   when the next answer is empty too: one empty answer from a resolver that is being reconfigured
 *   must not take a whole cluster out of service. A failed query in between neither counts nor resets.
 *
 * Every result schedules the next query: `refresh`, or the answer's TTL when that is sooner and
 * `respect_ttl` is on, minus up to `jitter_percent` of it so that processes (and names) started
 * together do not ask together forever.
 */

/** One endpoint a DNS answer gave. */
export interface DnsEndpoint {
  readonly address: string;
  readonly port: number;
  /** 1-128 (the endpoint weight range); SRV weights are mapped into it. */
  readonly weight: number;
  /** 0 is the highest; SRV priorities, 0 for address records. */
  readonly priority: number;
  /** The name the address was found under (SRV: the target), for TLS server names and the admin API. */
  readonly hostname: string;
}

/** The result of one query, as the refresh logic sees it. */
export type DnsOutcome =
  | { readonly kind: 'ok'; readonly endpoints: readonly DnsEndpoint[]; /** Seconds; undefined when the source gives none (/etc/hosts). */ readonly ttl?: number }
  | { readonly kind: 'empty'; readonly reason: string }
  | { readonly kind: 'failure'; readonly reason: string };

export interface DnsRefreshPolicy {
  readonly refreshMs: number;
  readonly respectTtl: boolean;
  /** 0-100: the delay is shortened by a random part of up to this percent. */
  readonly jitterPercent: number;
}

/** Milliseconds until the next query after `outcome`; `random` is uniform in [0, 1). */
export function refreshDelay(policy: DnsRefreshPolicy, outcome: DnsOutcome, random: () => number): number {
  let ms = policy.refreshMs;
  if (policy.respectTtl && outcome.kind === 'ok' && outcome.ttl !== undefined && outcome.ttl > 0) ms = Math.min(ms, outcome.ttl * 1000);
  const cut = ms * (policy.jitterPercent / 100) * random();
  return Math.max(1, Math.round(ms - cut));
}

/** A name's standing between queries. */
export interface DnsNameState {
  /** What the name contributes to the cluster now. */
  readonly endpoints: readonly DnsEndpoint[];
  /** Empty answers in a row (failures in between do not reset it). */
  readonly emptyAnswers: number;
  /** Why the last query did not give endpoints (a failure or a first empty answer), or null when it did. */
  readonly problem: string | null;
  /** Whether any query of the name has been answered (with records or empty). */
  readonly answered: boolean;
}

export const INITIAL_DNS_NAME_STATE: DnsNameState = { endpoints: [], emptyAnswers: 0, problem: null, answered: false };

/** Empty answers in a row that empty a name which had endpoints. */
export const EMPTY_ANSWERS_TO_EMPTY = 2;

/**
 * What to tell the operator, at most once per change: `failed` (a query failed, or failed for another
 * reason than the last time), `recovered` (an answer after failures), `empty-pending` (the first empty
 * answer of a name that has endpoints), `emptied`, `changed` (different endpoints), or null.
 */
export type DnsEvent = 'failed' | 'recovered' | 'empty-pending' | 'emptied' | 'changed' | null;

export interface DnsStep {
  readonly state: DnsNameState;
  /** The endpoints differ from before (compared as sorted sets: answer order rotates). */
  readonly changed: boolean;
  readonly event: DnsEvent;
}

/** The next state of a name after `outcome`. */
export function observeDnsOutcome(prev: DnsNameState, outcome: DnsOutcome): DnsStep {
  if (outcome.kind === 'failure') {
    const event = prev.problem === outcome.reason ? null : 'failed';
    return { state: { ...prev, problem: outcome.reason }, changed: false, event };
  }
  if (outcome.kind === 'empty') {
    const emptyAnswers = prev.emptyAnswers + 1;
    if (prev.endpoints.length > 0 && emptyAnswers < EMPTY_ANSWERS_TO_EMPTY) {
      const event = prev.problem === outcome.reason ? null : 'empty-pending';
      return { state: { ...prev, emptyAnswers, problem: outcome.reason, answered: true }, changed: false, event };
    }
    const changed = prev.endpoints.length > 0;
    return { state: { endpoints: [], emptyAnswers, problem: null, answered: true }, changed, event: changed ? 'emptied' : null };
  }
  const endpoints = sortEndpoints(outcome.endpoints);
  const changed = !sameEndpoints(prev.endpoints, endpoints);
  const event: DnsEvent = prev.problem !== null ? 'recovered' : changed ? 'changed' : null;
  return { state: { endpoints: changed ? endpoints : prev.endpoints, emptyAnswers: 0, problem: null, answered: true }, changed, event };
}

export function endpointKey(e: { address: string; port: number }): string {
  return `${e.address}:${e.port}`;
}

/** By address, then port: the one order answers are compared and listed in. */
export function sortEndpoints(list: readonly DnsEndpoint[]): DnsEndpoint[] {
  return [...list].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port));
}

/** Same endpoints with the same weights, priorities and names; both sorted. */
export function sameEndpoints(a: readonly DnsEndpoint[], b: readonly DnsEndpoint[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.address !== y.address || x.port !== y.port || x.weight !== y.weight || x.priority !== y.priority || x.hostname !== y.hostname) return false;
  }
  return true;
}
