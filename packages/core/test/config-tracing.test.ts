/**
 * The tracing block (issue 16): absent means off, every field's default, listener overrides, and
 * each bad value named at its field.
 */
import { describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/validate.js';

const base = (extra: Record<string, unknown> = {}, listenerExtra: Record<string, unknown> = {}) => ({
  listeners: [{ name: 'web', protocol: 'http', port: 8080, routes: [{ match: { prefix: '/' }, cluster: 'api' }], ...listenerExtra }],
  clusters: [{ name: 'api', endpoints: [{ address: '127.0.0.1', port: 9001 }] }],
  ...extra,
});

describe('tracing config', () => {
  it('is off when absent', () => {
    const r = validateConfig(base());
    expect(r.ok && r.config.tracing).toBeUndefined();
  });

  it('has defaults for every field', () => {
    const r = validateConfig(base({ tracing: {} }));
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(r.config.tracing).toEqual({
      propagation: ['w3c'],
      sampling: { ratio: 0.01, errors: true },
      otlp: { endpoint: 'http://127.0.0.1:4318/v1/traces', headers: {}, timeout: 10_000, batch: { max_queue: 2048, max_batch: 512, interval: 1000 } },
      service_name: 'pillion',
    });
  });

  it('takes listener overrides', () => {
    const r = validateConfig(base({ tracing: { propagation: ['w3c', 'b3'] } }, { tracing: { propagation: ['b3'], sampling: { ratio: 1 } } }));
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const l = r.config.listeners[0]!;
    expect(l.protocol === 'http' && l.tracing).toEqual({ propagation: ['b3'], sampling: { ratio: 1 } });
  });

  it.each([
    ['unknown format', { tracing: { propagation: ['jaeger'] } }, {}, 'tracing.propagation[0]', 'must be one of w3c, b3'],
    ['no format', { tracing: { propagation: [] } }, {}, 'tracing.propagation', 'at least one'],
    ['ratio above 1', { tracing: { sampling: { ratio: 2 } } }, {}, 'tracing.sampling.ratio', 'must be <= 1'],
    ['endpoint not a URL', { tracing: { otlp: { endpoint: 'collector:4318' } } }, {}, 'tracing.otlp.endpoint', 'http:// or https://'],
    ['bad header value', { tracing: { otlp: { headers: { 'x-key': 'a\nb' } } } }, {}, 'tracing.otlp.headers.x-key', 'CR or LF'],
    ['typo', { tracing: { sampel: {} } }, {}, 'tracing.sampel', 'unknown field'],
    ['listener override without the block', {}, { tracing: { sampling: { ratio: 1 } } }, 'listeners[0].tracing', 'top-level tracing'],
    ['listener ratio below 0', { tracing: {} }, { tracing: { sampling: { ratio: -1 } } }, 'listeners[0].tracing.sampling.ratio', 'must be >= 0'],
  ])('%s', (_name, extra, listenerExtra, path, message) => {
    const r = validateConfig(base(extra, listenerExtra));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const match = r.problems.find((p) => p.path === path);
    expect(match, `no problem at ${path}; got ${JSON.stringify(r.problems)}`).toBeDefined();
    expect(match!.message).toContain(message);
  });
});
