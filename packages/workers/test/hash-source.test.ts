import { HeaderList, hashKey } from '@pillion/core';
import { describe, expect, it } from 'vitest';
import { HashKind, cookieValue, parseHashOn, requestHash, requestKey } from '../src/worker/hash-source.js';

describe('hash_on', () => {
  it.each([
    ['header:X-User', { kind: HashKind.Header, name: 'x-user' }],
    ['cookie:sid', { kind: HashKind.Cookie, name: 'sid' }],
    ['source-ip', { kind: HashKind.SourceIp, name: '' }],
  ])('parses %s', (text, parsed) => expect(parseHashOn(text)).toEqual(parsed));

  it.each<[string, string, string | undefined]>([
    ['sid=abc', 'sid', 'abc'],
    ['a=1; sid=abc; b=2', 'sid', 'abc'],
    ['a=1;sid=abc', 'sid', 'abc'],
    ['xsid=1; sid=2', 'sid', '2'],
    ['sid="quoted"', 'sid', 'quoted'],
    ['sid=', 'sid', ''],
    ['a=1; b=2', 'sid', undefined],
    ['sidx=1', 'sid', undefined],
  ])('finds the cookie in %j', (header, name, value) => expect(cookieValue(header, name)).toBe(value));

  it('hashes the key, or a random point when the request has none', () => {
    const headers = new HeaderList(['x-user', 'alice', 'cookie', 'sid=s1']);
    expect(requestKey(parseHashOn('header:x-user'), headers, '10.0.0.9')).toBe('alice');
    expect(requestHash(parseHashOn('header:x-user'), headers, '', () => 0)).toBe(hashKey('alice'));
    expect(requestHash(parseHashOn('cookie:sid'), headers, '', () => 0)).toBe(hashKey('s1'));
    expect(requestHash(parseHashOn('source-ip'), headers, '10.0.0.9', () => 0)).toBe(hashKey('10.0.0.9'));
    expect(requestHash(parseHashOn('header:x-none'), headers, '', () => 0.5)).toBe(2147483648);
  });
});
