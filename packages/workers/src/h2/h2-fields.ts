/**
 * Header fields between HTTP/2 and the pipeline's HeaderList, both ways (RFC 9113 8.2-8.3):
 * - in: pseudo-headers are taken out (`:authority` becomes `host` when the request has none), and
 *   cookie crumbs, which HTTP/2 may split into several fields, are joined with "; " again, so an
 *   HTTP/1.1 upstream gets one Cookie line;
 * - out: connection-specific fields (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding,
 *   Upgrade, and TE other than "trailers") are never sent in HTTP/2; Host is carried as `:authority`.
 * Node's http2 takes and gives field lists as `rawHeaders` (name, value alternating, names in lower
 * case), which map onto HeaderList without a copy of the object form.
 */
import type { OutgoingHttpHeaders } from 'node:http2';
import { HeaderList } from '@pillion/core';

/** A request's pseudo-headers, and its regular fields. */
export interface H2RequestHead {
  method: string;
  /** `:path` (path and query); '' when absent (CONNECT, or a malformed request). */
  path: string;
  scheme: string;
  authority: string;
  headers: HeaderList;
}

/** Splits an HTTP/2 request's raw fields into its pseudo-headers and a HeaderList. */
export function requestHeadOf(raw: readonly string[]): H2RequestHead {
  let method = '';
  let path = '';
  let scheme = '';
  let authority = '';
  const fields: string[] = [];
  let cookies = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === 0x3a /* : */) {
      if (name === ':method') method = value;
      else if (name === ':path') path = value;
      else if (name === ':scheme') scheme = value;
      else if (name === ':authority') authority = value;
      continue;
    }
    if (name === 'cookie') cookies++;
    fields.push(name, value);
  }
  const headers = new HeaderList(fields);
  if (cookies > 1) {
    const joined = headers.getAll('cookie').join('; ');
    headers.set('cookie', joined);
  }
  if (authority !== '' && !headers.has('host')) headers.add('host', authority);
  return { method, path, scheme, authority, headers };
}

/** An HTTP/2 response's (or trailers') raw fields without pseudo-headers, and its `:status` (0 in trailers). */
export function responseHeadOf(raw: readonly string[]): { status: number; headers: HeaderList } {
  let status = 0;
  const fields: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 0x3a) {
      if (name === ':status') status = Number(raw[i + 1]);
      continue;
    }
    fields.push(name, raw[i + 1]!);
  }
  return { status, headers: new HeaderList(fields) };
}

/** Whether a lower-case field name may not appear in an HTTP/2 message (`te` is checked by value). */
export function isConnectionSpecific(name: string): boolean {
  switch (name) {
    case 'connection':
    case 'keep-alive':
    case 'proxy-connection':
    case 'transfer-encoding':
    case 'upgrade':
    case 'host':
    case 'http2-settings':
      return true;
    default:
      return false;
  }
}

/**
 * Adds a field list to outgoing HTTP/2 headers, leaving out what HTTP/2 forbids (and Host, which the
 * caller sends as `:authority`). A name that repeats becomes an array, so each value is its own field.
 */
export function addH2Fields(out: OutgoingHttpHeaders, list: HeaderList): OutgoingHttpHeaders {
  const raw = list.raw;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (isConnectionSpecific(name)) continue;
    const value = raw[i + 1]!;
    if (name === 'te' && value.trim().toLowerCase() !== 'trailers') continue;
    const had = out[name];
    if (had === undefined) out[name] = value;
    else if (Array.isArray(had)) had.push(value);
    else out[name] = [String(had), value];
  }
  return out;
}
