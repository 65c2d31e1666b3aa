/**
 * proxy_get_property: the attributes Envoy documents, as far as Pillion has them. A path is its
 * parts joined by NUL (`request\0path`); dotted paths (`request.path`) are accepted too. Strings are
 * returned as bytes, integers as 8-byte little-endian, booleans as one byte, maps serialized.
 */
import type { FilterRequest } from '../filter-request.js';
import { Status } from './abi.js';
import { guarded, type HostFunctions, type HostState } from './host.js';
import { serializePairs } from './pairs.js';

const utf8 = new TextEncoder();

function int64(value: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt(value), true);
  return out;
}

function requestProperty(request: FilterRequest, name: string, rest: string[]): Uint8Array | string | null {
  switch (name) {
    case 'path':
      return request.path;
    case 'url_path': {
      const q = request.path.indexOf('?');
      return q === -1 ? request.path : request.path.slice(0, q);
    }
    case 'query': {
      const q = request.path.indexOf('?');
      return q === -1 ? '' : request.path.slice(q + 1);
    }
    case 'host':
      return request.authority;
    case 'method':
      return request.method;
    case 'headers':
      if (rest.length === 1) return request.requestHeaders.get(rest[0]!.toLowerCase()) ?? null;
      return serializePairs(request.requestHeaders.raw);
    case 'id':
      return request.requestHeaders.get('x-request-id') ?? null;
    case 'useragent':
      return request.requestHeaders.get('user-agent') ?? null;
    case 'referer':
      return request.requestHeaders.get('referer') ?? null;
    default:
      return null;
  }
}

/** The value at `parts`, or null when Pillion has no such attribute (or not now). */
export function property(host: HostState, parts: string[]): Uint8Array | string | null {
  const [top, name, ...rest] = parts;
  if (top === 'plugin_name' && name === undefined) return host.env.name;
  if (top === 'plugin_root_id' && name === undefined) return host.env.rootId;
  if (top === 'plugin_vm_id' && name === undefined) return '';
  const request = host.request;
  if (request === null || name === undefined) return null;
  switch (top) {
    case 'request':
      return requestProperty(request, name, rest);
    case 'response':
      if (request.responseHeaders === null) return null;
      if (name === 'code') return int64(request.responseStatus);
      if (name === 'headers') {
        if (rest.length === 1) return request.responseHeaders.get(rest[0]!.toLowerCase()) ?? null;
        return serializePairs(request.responseHeaders.raw);
      }
      return null;
    case 'source':
      return name === 'address' && rest.length === 0 ? request.clientAddress : null;
    case 'connection':
      if (name === 'mtls' && rest.length === 0) return new Uint8Array([request.clientIdentity === '' ? 0 : 1]);
      if (name === 'subject_peer_certificate' && rest.length === 0 && request.clientIdentity !== '') return request.clientIdentity;
      return null;
    default:
      return null;
  }
}

/** `request\0path` or `request.path` → ['request', 'path']. */
export function propertyPath(raw: string): string[] {
  if (raw.includes('\0')) return raw.split('\0').filter((p) => p.length > 0);
  // Only the first two dots separate: header names may hold dots (request.headers.x.y).
  const parts = raw.split('.');
  return parts.length <= 3 ? parts : [parts[0]!, parts[1]!, parts.slice(2).join('.')];
}

export function propertyImports(host: HostState): HostFunctions {
  const memory = host.memory;
  return {
    proxy_get_property: guarded((pathPtr, pathSize, retPtr, retSize) => {
      const value = property(host, propertyPath(memory.string(pathPtr!, pathSize!)));
      if (value === null) return Status.NotFound;
      memory.returnBytes(typeof value === 'string' ? utf8.encode(value) : value, retPtr!, retSize!);
      return Status.Ok;
    }),
  };
}
