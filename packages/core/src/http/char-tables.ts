/**
 * Byte classes from RFC 9110 used by every HTTP parser and checker here, as lookup tables so the
 * hot loops test a byte with one load instead of a regex or a chain of comparisons.
 */

/** 1 for `tchar` (RFC 9110 5.6.2): the bytes allowed in field names, methods and codings. */
export const TCHAR: Uint8Array = (() => {
  const t = new Uint8Array(256);
  for (let c = 0x30; c <= 0x39; c++) t[c] = 1;
  for (let c = 0x41; c <= 0x5a; c++) t[c] = 1;
  for (let c = 0x61; c <= 0x7a; c++) t[c] = 1;
  for (const ch of "!#$%&'*+-.^_`|~") t[ch.charCodeAt(0)] = 1;
  return t;
})();

/** Value of a hex digit, or 255 for any other byte. */
export const HEX: Uint8Array = (() => {
  const t = new Uint8Array(256).fill(255);
  for (let c = 0; c < 10; c++) t[0x30 + c] = c;
  for (let c = 0; c < 6; c++) {
    t[0x41 + c] = 10 + c;
    t[0x61 + c] = 10 + c;
  }
  return t;
})();

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;
export const COLON = 0x3a;
export const COMMA = 0x2c;
export const SEMICOLON = 0x3b;
export const DQUOTE = 0x22;
export const BACKSLASH = 0x5c;

/** True when `s` is a non-empty token (field name, method, transfer coding). */
export function isToken(s: string): boolean {
  const n = s.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) if (TCHAR[s.charCodeAt(i)] !== 1) return false;
  return true;
}

/**
 * True when `s` holds none of NUL, CR, LF. RFC 9110 5.5 makes those the dangerous ones (a recipient
 * must reject or replace them); other controls may be kept "for the sake of robustness".
 */
export function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c === LF || c === CR) return false;
  }
  return true;
}

/**
 * A request field value as RFC 9110 5.5 allows it: visible characters, obs-text, space and tab. Other
 * control characters and DEL are refused, since parsers behind the proxy disagree on what they mean.
 */
export function isStrictFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return false;
  }
  return true;
}
