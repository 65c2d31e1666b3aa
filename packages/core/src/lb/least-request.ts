import type { LbHost, PickContext, Picker } from './types.js';
import { saltOf, walkDistinct } from './walk.js';
import { WeightedIndex } from './weighted-index.js';

export interface LeastRequestOptions {
  /** Candidates sampled per pick (default 2); at or above the host count every host is scanned. */
  readonly choices?: number;
  /** Exponent on active requests when weights differ (default 1.0; 0 ignores load). */
  readonly activeRequestBias?: number;
}

/**
 * Least request, power of `choices`, over active requests counted by all workers together.
 *
 * Equal weights: sample `choices` hosts uniformly, keep the one with the fewest active requests
 * (the first sampled on ties). Weights differ: candidates are sampled in proportion to weight and
 * compared by Envoy's dynamic weight, weight / active^bias, the larger winning. Envoy's formula adds
 * 1 to active because its EDF scheduler needs a finite weight for an idle host; compared here as
 * cross products, an idle candidate simply wins and ties go to the first sampled, so an idle
 * cluster gets exactly its weight ratios and a loaded one settles where active / weight is level,
 * which again gives traffic in weight ratio. (With the +1 and weighted sampling, weights 5:1:1 at
 * one to four requests in flight sent 92% to the heavy host instead of 71%.)
 */
export class LeastRequestPicker implements Picker {
  private readonly choices: number;
  private readonly bias: number;
  private n = 0;
  private slots = new Int32Array(0);
  private weights = new Float64Array(0);
  private readonly index = new WeightedIndex();

  constructor(options: LeastRequestOptions = {}) {
    const choices = options.choices ?? 2;
    const bias = options.activeRequestBias ?? 1.0;
    if (!Number.isInteger(choices) || choices < 1) throw new RangeError(`choices must be an integer >= 1, got ${choices}`);
    if (!(bias >= 0) || !Number.isFinite(bias)) throw new RangeError(`active_request_bias must be >= 0, got ${bias}`);
    this.choices = choices;
    this.bias = bias;
  }

  build(hosts: readonly LbHost[]): void {
    const n = hosts.length;
    this.n = n;
    this.slots = new Int32Array(n);
    this.weights = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      this.slots[i] = hosts[i].slot;
      this.weights[i] = hosts[i].weight;
    }
    this.index.build(this.weights, n);
  }

  pick(ctx: PickContext, attempt: number): number {
    const n = this.n;
    if (n === 0) return -1;
    if (attempt !== 0) return walkDistinct(ctx.walkFirst, ctx.walkSalt, attempt, n);
    const u = ctx.random();
    let best = this.index.sample(u);
    ctx.walkSalt = saltOf(u);
    if (n === 1 || (this.bias === 0 && !this.index.uniform)) {
      ctx.walkFirst = best;
      return best;
    }
    let bestActive = ctx.activeRequests(this.slots[best]);
    if (this.choices >= n) {
      // Full scan from the sampled start: ties go to the host nearest after it.
      const start = best;
      for (let k = 1; k < n; k++) {
        let i = start + k;
        if (i >= n) i -= n;
        const active = ctx.activeRequests(this.slots[i]);
        if (this.better(i, active, best, bestActive)) {
          best = i;
          bestActive = active;
        }
      }
    } else {
      for (let c = 1; c < this.choices; c++) {
        const i = this.index.sample(ctx.random());
        const active = ctx.activeRequests(this.slots[i]);
        if (this.better(i, active, best, bestActive)) {
          best = i;
          bestActive = active;
        }
      }
    }
    ctx.walkFirst = best;
    return best;
  }

  /** Whether host `i` with `active` requests beats the current best (strictly). */
  private better(i: number, active: number, best: number, bestActive: number): boolean {
    if (this.index.uniform) return active < bestActive;
    // weight_i / active_i^bias > weight_b / active_b^bias, without dividing by an idle host's 0.
    if (this.bias === 1) return active * this.weights[best] < bestActive * this.weights[i];
    return Math.pow(active, this.bias) * this.weights[best] < Math.pow(bestActive, this.bias) * this.weights[i];
  }
}
