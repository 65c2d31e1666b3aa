import { validateConfig } from '@pillion/core';
import { describe, expect, it } from 'vitest';
import { descriptorWarning, openFileLimit } from '../src/supervisor/descriptor-limit.js';

const LIMITS = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max open files            1024                 524288               files
Max locked memory         8388608              8388608              bytes
`;

function config(raw: unknown) {
  const r = validateConfig(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.config;
}

describe('open-file limit', () => {
  it('reads the soft limit from /proc/PID/limits text', () => {
    expect(openFileLimit(LIMITS)).toBe(1024);
    expect(openFileLimit(LIMITS.replace('1024  ', 'unlimited'))).toBeNull();
    expect(openFileLimit('')).toBeNull();
  });

  it('warns only when the limit is below the budget, naming the largest parts', () => {
    const c = config({
      workers: 1,
      listeners: [{ name: 'db', protocol: 'tcp', port: 6000, cluster: 'b' }],
      clusters: [{ name: 'b', endpoints: [{ address: '127.0.0.1', port: 3 }] }],
    });
    const w = descriptorWarning(c, 1024);
    expect(w?.budget.total).toBeGreaterThan(10_000);
    expect(w?.message).toContain('the open-file limit (ulimit -n) is 1024');
    expect(w?.message).toContain('listeners[0].max_connections 10000');
    expect(descriptorWarning(c, 100_000)).toBeNull();
    expect(descriptorWarning(c, null)).toBeNull();
  });
});
