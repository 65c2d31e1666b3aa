import { describe, expect, it } from 'vitest';
import { CRLF, HeaderList, LAST_CHUNK, chunkHeader, serializeRequestHead } from '../src/http/index.js';
import type { BodyFraming } from '../src/http/index.js';

describe('serializeRequestHead', () => {
  it.each<{ name: string; method: string; target: string; headers: string[]; framing: BodyFraming; out: string }>([
    {
      name: 'bodyless',
      method: 'GET',
      target: '/a?b=1',
      headers: ['host', 'example.com', 'accept', '*/*'],
      framing: { kind: 'none', length: 0 },
      out: 'GET /a?b=1 HTTP/1.1\r\nhost: example.com\r\naccept: */*\r\n\r\n',
    },
    {
      name: 'content-length',
      method: 'POST',
      target: '/up',
      headers: ['host', 'h', 'content-type', 'text/plain'],
      framing: { kind: 'length', length: 42 },
      out: 'POST /up HTTP/1.1\r\nhost: h\r\ncontent-type: text/plain\r\ncontent-length: 42\r\n\r\n',
    },
    {
      name: 'zero length',
      method: 'PUT',
      target: '/',
      headers: ['host', 'h'],
      framing: { kind: 'length', length: 0 },
      out: 'PUT / HTTP/1.1\r\nhost: h\r\ncontent-length: 0\r\n\r\n',
    },
    {
      name: 'chunked',
      method: 'POST',
      target: '/',
      headers: ['host', 'h'],
      framing: { kind: 'chunked', length: 0 },
      out: 'POST / HTTP/1.1\r\nhost: h\r\ntransfer-encoding: chunked\r\n\r\n',
    },
    {
      name: 'framing fields in the list are replaced by the framing',
      method: 'POST',
      target: '/',
      headers: ['content-length', '5', 'host', 'h', 'transfer-encoding', 'chunked', 'content-length', '5'],
      framing: { kind: 'length', length: 5 },
      out: 'POST / HTTP/1.1\r\nhost: h\r\ncontent-length: 5\r\n\r\n',
    },
    {
      name: 'framing fields dropped for a bodyless request',
      method: 'GET',
      target: '/',
      headers: ['host', 'h', 'content-length', '0'],
      framing: { kind: 'none', length: 0 },
      out: 'GET / HTTP/1.1\r\nhost: h\r\n\r\n',
    },
    {
      name: 'repeated fields kept in order',
      method: 'GET',
      target: '*',
      headers: ['x', '1', 'host', 'h', 'x', '2'],
      framing: { kind: 'none', length: 0 },
      out: 'GET * HTTP/1.1\r\nx: 1\r\nhost: h\r\nx: 2\r\n\r\n',
    },
  ])('$name', ({ method, target, headers, framing, out }) => {
    expect(serializeRequestHead(method, target, new HeaderList(headers), framing)).toBe(out);
  });

  it.each([-1, 1.5, Number.NaN, 2 ** 53])('refuses body length %d', (length) => {
    expect(() => serializeRequestHead('POST', '/', new HeaderList(), { kind: 'length', length })).toThrow(RangeError);
  });
});

describe('chunk framing', () => {
  it.each([
    [1, '1\r\n'],
    [10, 'a\r\n'],
    [255, 'ff\r\n'],
    [65536, '10000\r\n'],
  ])('chunkHeader(%d)', (len, out) => {
    expect(chunkHeader(len)).toBe(out);
  });

  it.each([0, -1, 1.5])('refuses chunk length %d', (len) => {
    expect(() => chunkHeader(len)).toThrow(RangeError);
  });

  it('has the constants of RFC 9112 7.1', () => {
    expect(CRLF).toBe('\r\n');
    expect(LAST_CHUNK).toBe('0\r\n\r\n');
  });
});
