/**
 * The head sampling decision, parent-based: a caller that sampled its span is followed, one that did
 * not is followed too, and a request with no caller's decision (no context, or B3 that deferred it) is
 * sampled with probability `ratio`. The decision travels upstream in the flags.
 */
import type { SpanContext } from './span-context.js';

/** `random` returns a number in [0, 1), like Math.random. */
export function sampleDecision(parent: SpanContext | null, ratio: number, random: () => number): boolean {
  if (parent !== null && parent.sampled !== undefined) return parent.sampled;
  if (ratio >= 1) return true;
  if (ratio <= 0) return false;
  return random() < ratio;
}
