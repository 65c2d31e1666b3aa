import type { LbHost, PickContext, Picker } from './types.js';
import { saltOf, walkDistinct } from './walk.js';
import { WeightedIndex } from './weighted-index.js';

/** Weighted random: one uniform draw, a binary search over cumulative weights. */
export class RandomPicker implements Picker {
  private n = 0;
  private readonly index = new WeightedIndex();

  build(hosts: readonly LbHost[]): void {
    this.n = hosts.length;
    const weights = new Float64Array(this.n);
    for (let i = 0; i < this.n; i++) weights[i] = hosts[i].weight;
    this.index.build(weights, this.n);
  }

  pick(ctx: PickContext, attempt: number): number {
    if (this.n === 0) return -1;
    if (attempt !== 0) return walkDistinct(ctx.walkFirst, ctx.walkSalt, attempt, this.n);
    const u = ctx.random();
    const i = this.index.sample(u);
    ctx.walkFirst = i;
    ctx.walkSalt = saltOf(u);
    return i;
  }
}
