/**
 * Hop-by-hop fields (RFC 9110 7.6.1) describe one connection, not the message, so a proxy removes
 * them in both directions before forwarding, together with every field the Connection header
 * names.
 */
import { COMMA, HTAB, SP } from './char-tables.js';
import type { HeaderList } from './header-list.js';

export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** True for a lower-case field name that is always hop-by-hop. */
export function isHopByHop(name: string): boolean {
  switch (name) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'te':
    case 'trailer':
    case 'transfer-encoding':
    case 'upgrade':
      return true;
    default:
      return false;
  }
}

/**
 * Removes hop-by-hop fields in place, keeping the order of the rest. Names listed in Connection
 * are removed too, except `host`: a request without Host is invalid upstream, and nothing
 * legitimate declares Host hop-by-hop. Listing Content-Length does remove it; the forwarded
 * framing comes from the parse result, never from the remaining fields.
 */
export function stripHopByHop(headers: HeaderList): void {
  const raw = headers.raw;
  let listed: string[] | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i] === 'connection') listed = collectConnectionNames(raw[i + 1]!, listed);
  }
  let w = 0;
  for (let r = 0; r < raw.length; r += 2) {
    const name = raw[r]!;
    if (isHopByHop(name)) continue;
    if (listed !== null && name !== 'host' && listed.includes(name)) continue;
    if (w !== r) {
      raw[w] = name;
      raw[w + 1] = raw[r + 1]!;
    }
    w += 2;
  }
  if (w !== raw.length) raw.length = w; // a length write costs even when nothing changed
}

/** Appends the lower-cased option names of one Connection value to `into` (created on demand). */
function collectConnectionNames(value: string, into: string[] | null): string[] | null {
  const n = value.length;
  let i = 0;
  while (i < n) {
    let c = value.charCodeAt(i);
    if (c === COMMA || c === SP || c === HTAB) {
      i++;
      continue;
    }
    const start = i;
    while (i < n && value.charCodeAt(i) !== COMMA) i++;
    let end = i;
    while (end > start && ((c = value.charCodeAt(end - 1)) === SP || c === HTAB)) end--;
    (into ??= []).push(value.slice(start, end).toLowerCase());
  }
  return into;
}
