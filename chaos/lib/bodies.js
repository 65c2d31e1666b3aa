// Bodies with a pattern, so a client can tell a whole, correct body from a corrupted one.

/**
 * `n` bytes of a repeating, position-dependent pattern (a byte shifted or dropped shows).
 * @param {number} n
 */
export function patterned(n) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = 97 + ((i * 7 + (i >> 8)) % 26);
  return b;
}

export const body64k = patterned(64 * 1024);
