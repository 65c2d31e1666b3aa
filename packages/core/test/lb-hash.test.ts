import { describe, expect, it } from 'vitest';
import { hashIndexedKey, hashIndexedKeys, hashKey, murmur3 } from '../src/lb/index.js';

describe('murmur3 / hashKey', () => {
  // Published MurmurHash3 x86_32 vectors, checked against an independent implementation.
  it.each([
    ['', 0, 0x00000000],
    ['', 1, 0x514e28b7],
    ['hello', 0, 0x248bfa47],
    ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
    ['10.0.0.1:8080_17', 0, 0x69b513b6],
    ['héllo wörld ✓ 😀', 42, 0x94c30708],
  ])('hashKey(%j, seed %i) = %i', (str, seed, expected) => {
    expect(hashKey(str, seed)).toBe(expected);
  });

  it.each(['', 'a', 'ab', 'abc', 'abcd', 'x-user: 42', 'ünïcødé', '日本語のキー', '😀 pair', 'lone \ud800 surrogate', 'x'.repeat(1000)])(
    'hashes UTF-8 bytes like Buffer does: %j',
    (str) => {
      const bytes = Buffer.from(str, 'utf8');
      expect(hashKey(str)).toBe(murmur3(bytes));
      expect(hashKey(str, 7)).toBe(murmur3(bytes, bytes.length, 7));
    },
  );

  it.each([0, 1, 9, 10, 99, 1023, 123456, 8388607])('hashIndexedKey(key, %i) = hashKey(`key_i`)', (i) => {
    expect(hashIndexedKey('10.1.2.3:8443', i)).toBe(hashKey(`10.1.2.3:8443_${i}`));
    expect(hashIndexedKey('host-ü:1', i, 3)).toBe(hashKey(`host-ü:1_${i}`, 3));
  });

  it('hashIndexedKeys fills a range of the same hashes', () => {
    const out = new Uint32Array(1100);
    hashIndexedKeys('10.9.8.7:443', 1100, out, 5);
    for (const i of [0, 1, 9, 10, 99, 100, 999, 1000, 1099]) expect(out[i]).toBe(hashKey(`10.9.8.7:443_${i}`, 5));
  });

  it('is unsigned 32-bit', () => {
    for (let i = 0; i < 1000; i++) {
      const h = hashKey(`k${i}`);
      expect(Number.isInteger(h) && h >= 0 && h <= 0xffffffff).toBe(true);
    }
  });
});
