/**
 * What the consistent-hash policies hash: a header's value, a cookie's value or the client address
 * (`lb.hash_on`). A request without the key hashes to a random point, as Envoy does, so keyless
 * traffic spreads instead of piling onto the one host that owns the hash of "".
 */
import { hashKey, type HeaderList } from '@pillion/core';

export const enum HashKind {
  Header,
  Cookie,
  SourceIp,
}

export interface HashSource {
  readonly kind: HashKind;
  /** Lower-case header name, or the cookie's name. */
  readonly name: string;
}

/** Parses `header:NAME`, `cookie:NAME` or `source-ip` (the schema has checked the form). */
export function parseHashOn(hashOn: string): HashSource {
  if (hashOn === 'source-ip') return { kind: HashKind.SourceIp, name: '' };
  const colon = hashOn.indexOf(':');
  const what = hashOn.slice(0, colon);
  const name = hashOn.slice(colon + 1);
  if (what === 'header') return { kind: HashKind.Header, name: name.toLowerCase() };
  if (what === 'cookie') return { kind: HashKind.Cookie, name };
  throw new RangeError(`hash_on must be header:NAME, cookie:NAME or source-ip, got ${JSON.stringify(hashOn)}`);
}

/** The request's key under `source`, or undefined when the request has none. */
export function requestKey(source: HashSource, headers: HeaderList, clientAddress: string): string | undefined {
  switch (source.kind) {
    case HashKind.Header:
      return headers.get(source.name);
    case HashKind.Cookie: {
      const cookies = headers.get('cookie');
      return cookies === undefined ? undefined : cookieValue(cookies, source.name);
    }
    case HashKind.SourceIp:
      return clientAddress === '' ? undefined : clientAddress;
  }
}

/** 32-bit hash of the request's key; a random point when it has none. */
export function requestHash(source: HashSource, headers: HeaderList, clientAddress: string, random: () => number): number {
  const key = requestKey(source, headers, clientAddress);
  return key === undefined ? (random() * 4294967296) >>> 0 : hashKey(key);
}

/** The value of cookie `name` in a Cookie header (`a=1; b=2`), without splitting the header. */
export function cookieValue(header: string, name: string): string | undefined {
  let at = 0;
  const n = header.length;
  while (at < n) {
    while (at < n && (header.charCodeAt(at) === 0x20 || header.charCodeAt(at) === 0x09)) at++;
    let end = header.indexOf(';', at);
    if (end === -1) end = n;
    const eq = header.indexOf('=', at);
    if (eq !== -1 && eq < end && eq - at === name.length && header.startsWith(name, at)) {
      let value = header.slice(eq + 1, end).trim();
      if (value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22) value = value.slice(1, -1);
      return value;
    }
    at = end + 1;
  }
  return undefined;
}
