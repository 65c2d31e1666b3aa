/**
 * The balancer's per-request state: what a pick reads from SharedState (the cluster's shared
 * sequence, every endpoint's active requests counted by all workers) and the scratch a picker keeps
 * between the attempts of one request. One small object per request, kept in the request's
 * `lbScratch`; its methods live on the prototype, so a pick creates no closures.
 */
import type { PickContext, SharedState } from '@pillion/core';

/** Where a pick's shared numbers come from: one cluster in SharedState. */
export interface PickSource {
  readonly state: SharedState;
  readonly slot: number;
  random(): number;
}

export class RequestPick implements PickContext {
  hash = 0;
  walkFirst = 0;
  walkSalt = 0;
  walkGroup = 0;
  /** 0: no walk yet, so a later attempt on a fresh object starts one (see ClusterBalancer.pick). */
  walkEpoch = 0;
  walkStart = 0;
  walkLast = -1;

  constructor(readonly source: PickSource) {}

  random(): number {
    return this.source.random();
  }

  sequence(): number {
    return this.source.state.nextSequence(this.source.slot);
  }

  activeRequests(slot: number): number {
    return this.source.state.endpoint(slot, 'rq_active');
  }
}
