import { describe, expect, it } from 'vitest';
import { HOP_BY_HOP_HEADERS, HeaderList, isHopByHop, stripHopByHop } from '../src/http/index.js';

describe('stripHopByHop', () => {
  it.each([
    { name: 'nothing to strip', input: ['host', 'a', 'accept', '*/*'], output: ['host', 'a', 'accept', '*/*'] },
    {
      name: 'every fixed hop-by-hop field',
      input: [
        'connection', 'keep-alive', 'keep-alive', 'timeout=5', 'host', 'a', 'proxy-connection', 'close', 'te', 'trailers',
        'trailer', 'x-sum', 'transfer-encoding', 'chunked', 'upgrade', 'h2c', 'accept', '*/*',
      ],
      output: ['host', 'a', 'accept', '*/*'],
    },
    {
      name: 'fields named in Connection, in any case and spacing',
      input: ['connection', 'X-Trace ,  x-debug,,', 'x-trace', '1', 'x-keep', '2', 'x-debug', '3', 'x-trace', '4'],
      output: ['x-keep', '2'],
    },
    {
      name: 'names from every Connection line',
      input: ['connection', 'x-a', 'x-a', '1', 'x-b', '2', 'connection', 'x-b', 'x-c', '3'],
      output: ['x-c', '3'],
    },
    {
      name: 'host survives being listed',
      input: ['connection', 'host, content-length', 'host', 'a', 'content-length', '5'],
      output: ['host', 'a'],
    },
    { name: 'repeats and order of the rest kept', input: ['a', '1', 'te', 'x', 'b', '2', 'a', '3'], output: ['a', '1', 'b', '2', 'a', '3'] },
    { name: 'empty list', input: [], output: [] },
  ])('$name', ({ input, output }) => {
    const headers = new HeaderList(input.slice());
    stripHopByHop(headers);
    expect(headers.raw).toEqual(output);
  });
});

describe('isHopByHop', () => {
  it('agrees with HOP_BY_HOP_HEADERS', () => {
    expect([...HOP_BY_HOP_HEADERS].sort()).toEqual([
      'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
    ]);
    for (const name of HOP_BY_HOP_HEADERS) expect(isHopByHop(name)).toBe(true);
    for (const name of ['host', 'content-length', 'x-forwarded-for', 'trailers', 'Connection']) expect(isHopByHop(name)).toBe(false);
  });
});
