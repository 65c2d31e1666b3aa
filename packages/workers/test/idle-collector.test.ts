import { describe, expect, it } from 'vitest';
import { IdleCollector } from '../src/worker/idle-collector.js';

describe('IdleCollector', () => {
  it('collects once a quiet period follows traffic, and again once the idle timeouts have passed', () => {
    let traffic = 0;
    const c = new IdleCollector(() => traffic, () => 60_000, 5000);
    c.start(); // reads the counter as it is at start
    c.stop();
    // start-up: no traffic yet, nothing to give back
    expect(c.check(0)).toBe(false);
    expect(c.check(5000)).toBe(false);
    expect(c.check(10_000)).toBe(false);
    traffic = 100;
    expect(c.check(15_000)).toBe(false); // busy
    expect(c.check(19_000)).toBe(false); // quiet for 4 s only
    expect(c.check(20_000)).toBe(true); // quiet for a whole period
    expect(c.check(25_000)).toBe(false);
    expect(c.check(79_000)).toBe(false);
    expect(c.check(80_000)).toBe(true); // idle timeout (60 s) plus a period
    expect(c.check(200_000)).toBe(false); // nothing more until traffic comes back
    traffic = 101;
    expect(c.check(205_000)).toBe(false);
    expect(c.check(210_000)).toBe(true);
  });

  it('caps the wait for the second collection', () => {
    let traffic = 0;
    const c = new IdleCollector(() => traffic, () => 3_600_000, 5000);
    c.start();
    c.stop();
    traffic = 1;
    c.check(1000);
    expect(c.check(6000)).toBe(true);
    expect(c.check(1000 + 10 * 60_000 + 4000)).toBe(false);
    expect(c.check(1000 + 10 * 60_000 + 5000)).toBe(true);
  });
});
