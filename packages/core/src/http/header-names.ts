/**
 * Interned lower-case spellings of the field names upstream servers send most. The response
 * parser maps a name's bytes to one of these constants instead of decoding (and lower-casing) a
 * fresh string per field; the framing checks then compare names by identity.
 */

const COMMON_NAMES = [
  'accept-ranges',
  'access-control-allow-credentials',
  'access-control-allow-headers',
  'access-control-allow-methods',
  'access-control-allow-origin',
  'age',
  'alt-svc',
  'cache-control',
  'connection',
  'content-disposition',
  'content-encoding',
  'content-language',
  'content-length',
  'content-security-policy',
  'content-type',
  'date',
  'etag',
  'expires',
  'keep-alive',
  'last-modified',
  'link',
  'location',
  'pragma',
  'proxy-connection',
  'referrer-policy',
  'retry-after',
  'server',
  'set-cookie',
  'strict-transport-security',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'vary',
  'via',
  'www-authenticate',
  'x-content-type-options',
  'x-frame-options',
  'x-powered-by',
  'x-request-id',
  'x-xss-protection',
] as const;

interface Entry {
  readonly name: string;
  readonly codes: Uint8Array;
}

const BY_LENGTH: Entry[][] = [];
for (const name of COMMON_NAMES) {
  const codes = new Uint8Array(name.length);
  for (let i = 0; i < name.length; i++) codes[i] = name.charCodeAt(i);
  (BY_LENGTH[name.length] ??= []).push({ name, codes });
}

/**
 * The interned lower-case name for the bytes b[start..end), or undefined when it is not a common
 * one. The bytes must already be known to be token characters: ORing 0x20 lower-cases letters and
 * leaves digits and '-' alone, and no other token byte maps onto a letter, digit or '-'.
 */
export function internHeaderName(b: Uint8Array, start: number, end: number): string | undefined {
  const list = BY_LENGTH[end - start];
  if (list === undefined) return undefined;
  for (let e = 0; e < list.length; e++) {
    const codes = list[e]!.codes;
    let k = 0;
    while (k < codes.length && (b[start + k]! | 0x20) === codes[k]) k++;
    if (k === codes.length) return list[e]!.name;
  }
  return undefined;
}
