import { describe, expect, it } from 'vitest';
import { waitFor } from './wait-for.js';

describe('waitFor', () => {
  it('resolves with the first truthy value, sync or async', async () => {
    let n = 0;
    expect(await waitFor(() => (++n >= 3 ? { n } : null), { intervalMs: 1 })).toEqual({ n: 3 });
    let m = 0;
    expect(await waitFor(async () => ++m === 2 && 'ready', { intervalMs: 1 })).toBe('ready');
  });

  it('calls the condition once and resolves at once when it already holds', async () => {
    let calls = 0;
    expect(await waitFor(() => ++calls, { timeoutMs: 0 })).toBe(1);
    expect(calls).toBe(1);
  });

  it('throws with the message after the timeout, having checked once more at the deadline', async () => {
    const calls: number[] = [];
    const started = performance.now();
    await expect(waitFor(() => (calls.push(performance.now()), false), { timeoutMs: 30, intervalMs: 50, message: 'the thing' })).rejects.toThrow(
      'waitFor: the thing: not met within 30 ms',
    );
    // Once at the start, and (the interval being longer than the timeout) next when the deadline came.
    expect(calls[0]! - started).toBeLessThan(30);
    expect(calls.at(-1)! - started).toBeGreaterThanOrEqual(30);
  });

  it('names the condition by its source when there is no message', async () => {
    await expect(waitFor(() => 1 > 2, { timeoutMs: 0 })).rejects.toThrow(/^waitFor: \(\) => 1 > 2: not met within 0 ms$/);
  });

  it('rejects at once when the condition throws', async () => {
    let calls = 0;
    await expect(
      waitFor(() => {
        calls++;
        throw new Error('broken');
      }),
    ).rejects.toThrow('broken');
    expect(calls).toBe(1);
  });
});
