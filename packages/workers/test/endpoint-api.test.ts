import { describe, expect, it } from 'vitest';
import { parseEndpointList, parseWeight, splitEndpointKey } from '../src/supervisor/endpoint-api.js';

describe('PUT /clusters/NAME/endpoints bodies', () => {
  it('fills defaults like the config file does', () => {
    expect(parseEndpointList([{ address: '10.0.0.1', port: 80 }, { address: '10.0.0.2', port: 80, weight: 3, zone: 'b', priority: 1 }])).toEqual({
      ok: true,
      value: [
        { address: '10.0.0.1', port: 80, weight: 1, zone: '', priority: 0 },
        { address: '10.0.0.2', port: 80, weight: 3, zone: 'b', priority: 1 },
      ],
    });
    expect(parseEndpointList([])).toEqual({ ok: true, value: [] });
  });

  it.each<[string, unknown, { path: string; message: RegExp }[]]>([
    ['not an array', { address: 'x' }, [{ path: '', message: /JSON array/ }]],
    ['port out of range', [{ address: 'a', port: 70000 }], [{ path: '[0].port', message: /<= 65535/ }]],
    ['missing port', [{ address: 'a' }, { address: 'b', port: 1 }], [{ path: '[0].port', message: /is required/ }]],
    ['port as a string', [{ address: 'a', port: '80' }], [{ path: '[0].port', message: /must be a number/ }]],
    ['weight zero', [{ address: 'a', port: 1, weight: 0 }], [{ path: '[0].weight', message: />= 1/ }]],
    ['unknown field', [{ address: 'a', port: 1, wieght: 2 }], [{ path: '[0].wieght', message: /unknown field/ }]],
    ['not an object', [5], [{ path: '[0]', message: /must be an object/ }]],
    ['duplicate', [{ address: 'a', port: 1 }, { address: 'a', port: 1 }], [{ path: '[1]', message: /duplicate endpoint a:1 \(also \[0\]\)/ }]],
    ['every problem at once', [{ address: '', port: 0 }], [{ path: '[0].address', message: /empty/ }, { path: '[0].port', message: />= 1/ }]],
  ])('%s', (_name, body, expected) => {
    const r = parseEndpointList(body);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems.map((p) => p.path)).toEqual(expected.map((e) => e.path));
    r.problems.forEach((p, i) => expect(p.message).toMatch(expected[i]!.message));
  });
});

describe('POST .../weight bodies', () => {
  it.each<[unknown, number | string[]]>([
    [{ weight: 5 }, 5],
    [{ weight: 128 }, 128],
    [{ weight: 129 }, ['weight']],
    [{ weight: 1.5 }, ['weight']],
    [{}, ['weight']],
    [{ weight: 2, extra: 1 }, ['extra']],
    [[2], ['']],
  ])('%j', (body, expected) => {
    const r = parseWeight(body);
    if (typeof expected === 'number') expect(r).toEqual({ ok: true, value: expected });
    else expect(r.ok ? [] : r.problems.map((p) => p.path)).toEqual(expected);
  });
});

describe('ADDRESS:PORT in the path', () => {
  it.each<[string, { address: string; port: number } | undefined]>([
    ['127.0.0.1:8080', { address: '127.0.0.1', port: 8080 }],
    ['[::1]:80', { address: '::1', port: 80 }],
    ['svc.local:443', { address: 'svc.local', port: 443 }],
    ['127.0.0.1', undefined],
    [':80', undefined],
    ['a:0', undefined],
  ])('%s', (text, expected) => expect(splitEndpointKey(text)).toEqual(expected));
});
