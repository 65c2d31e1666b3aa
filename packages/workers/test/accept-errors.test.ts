import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { AcceptErrors } from '../src/l4/accept-errors.js';

function setup() {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ base: null }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  let counted = 0;
  let now = 0;
  const errors = new AcceptErrors('web', () => counted++, log, () => now, 10_000);
  const emfile = Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' });
  return { lines, errors, emfile, counted: () => counted, at: (ms: number) => (now = ms) };
}

describe('accept errors', () => {
  it('counts every accept error and logs at most one line per interval, with the count since the last', () => {
    const s = setup();
    // [time, errors at that time, lines expected so far, `errors` on the newest line]
    const table: [number, number, number, number][] = [
      [0, 1, 1, 1],
      [1, 500, 1, 1],
      [9_999, 10, 1, 1],
      [10_000, 1, 2, 511],
      [15_000, 3, 2, 511],
      [30_000, 1, 3, 4],
    ];
    let total = 0;
    for (const [t, n, lines, last] of table) {
      s.at(t);
      for (let i = 0; i < n; i++) s.errors.onServerError(s.emfile);
      total += n;
      expect(s.counted()).toBe(total);
      expect(s.lines).toHaveLength(lines);
      expect(s.lines.at(-1)).toMatchObject({ listener: 'web', code: 'EMFILE', errors: last, msg: 'listener cannot accept connections' });
    }
  });

  it('logs other server errors as they come, without counting them', () => {
    const s = setup();
    s.errors.onServerError(Object.assign(new Error('boom'), { syscall: 'listen' }));
    s.errors.onServerError(Object.assign(new Error('boom'), { syscall: 'listen' }));
    expect(s.counted()).toBe(0);
    expect(s.lines).toHaveLength(2);
    expect(s.lines[0]).toMatchObject({ listener: 'web', msg: 'listener failed' });
  });
});
