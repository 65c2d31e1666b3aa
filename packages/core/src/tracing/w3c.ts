/**
 * W3C Trace Context level 1 (https://www.w3.org/TR/trace-context/): the `traceparent` and
 * `tracestate` header values. A value that breaks a rule is not continued: the proxy starts a new
 * trace instead (and drops a `tracestate` that came with it).
 */
import { isHexId, type SpanContext } from './span-context.js';

const FLAGS_SAMPLED = 1;
const HEX2 = /^[0-9a-f]{2}$/;

/**
 * Parses a `traceparent` value: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, lower-case,
 * ids not all zero. Version ff is invalid; a later version (01-fe) is read by the version 00 rules,
 * its value may be longer than 55 characters only with a `-` after the flags.
 */
export function parseTraceparent(value: string | undefined): SpanContext | null {
  if (value === undefined || value.length < 55) return null;
  const version = value.slice(0, 2);
  if (!HEX2.test(version) || version === 'ff') return null;
  if (version === '00' ? value.length !== 55 : value.length > 55 && value.charCodeAt(55) !== 0x2d) return null;
  if (value.charCodeAt(2) !== 0x2d || value.charCodeAt(35) !== 0x2d || value.charCodeAt(52) !== 0x2d) return null;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  const flags = value.slice(53, 55);
  if (!isHexId(traceId, 32) || !isHexId(spanId, 16) || !HEX2.test(flags)) return null;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & FLAGS_SAMPLED) !== 0 };
}

/** A version 00 `traceparent` value. */
export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

const SIMPLE_KEY = /^[a-z][a-z0-9_\-*/]{0,255}$/;
const TENANT_KEY = /^[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13}$/;
// chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E; a value ends in a nblk-chr.
const VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
const MAX_MEMBERS = 32;

/**
 * Whether a `tracestate` value (several header lines joined with `,`) follows the rules: at most 32
 * `key=value` members, each key once, keys and values in the allowed characters and lengths; empty
 * members (only spaces and tabs) are allowed and not counted.
 */
export function isValidTracestate(value: string): boolean {
  const keys = new Set<string>();
  for (const raw of value.split(',')) {
    const member = raw.replace(/^[ \t]+|[ \t]+$/g, '');
    if (member === '') continue;
    const eq = member.indexOf('=');
    if (eq <= 0) return false;
    const key = member.slice(0, eq);
    const val = member.slice(eq + 1);
    if (!(SIMPLE_KEY.test(key) || TENANT_KEY.test(key)) || !VALUE.test(val) || keys.has(key)) return false;
    keys.add(key);
    if (keys.size > MAX_MEMBERS) return false;
  }
  return true;
}
