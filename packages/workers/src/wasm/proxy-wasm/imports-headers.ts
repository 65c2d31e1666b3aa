/** Header maps: proxy_get/add/replace/remove_header_map_value, proxy_get/set_header_map_pairs, proxy_get_header_map_size. */
import { HeaderList } from '@pillion/core';
import type { FilterRequest } from '../filter-request.js';
import { HostCallError } from '../filter-error.js';
import { checkHeaderName, checkHeaderValue, isFramingHeader } from '../local-reply-headers.js';
import { MapType, Status } from './abi.js';
import { currentRequest, guarded, type HostFunctions, type HostState } from './host.js';
import { deserializePairs, serializePairs } from './pairs.js';

const PATH = /^\/[\x21-\x7e]*$/;

/** Envoy's pseudo-headers, which filters read (and `:path` rewrite) through the header maps. */
function pseudoHeaders(request: FilterRequest, map: number): string[] {
  if (map === MapType.HttpRequestHeaders) return [':authority', request.authority, ':path', request.path, ':method', request.method];
  return [':status', String(request.responseStatus)];
}

function pseudoValue(request: FilterRequest, map: number, key: string): string | undefined {
  if (map === MapType.HttpRequestHeaders) {
    if (key === ':path') return request.path;
    if (key === ':method') return request.method;
    if (key === ':authority') return request.authority;
    return undefined;
  }
  return key === ':status' ? String(request.responseStatus) : undefined;
}

/** The map `map` of the running request, or null when it does not exist (yet, or in Pillion). */
function mapOf(host: HostState, map: number, fn: string): HeaderList | null {
  const request = currentRequest(host, fn);
  if (map === MapType.HttpRequestHeaders) return request.requestHeaders;
  if (map === MapType.HttpResponseHeaders) return request.responseHeaders;
  return null;
}

/** Whether `name` may be set or removed by a filter (not a pseudo-header, not framing, a token). */
function writable(name: string): boolean {
  if (name.length === 0 || name.charCodeAt(0) === 0x3a) return false;
  try {
    checkHeaderName(name);
    return true;
  } catch {
    return false;
  }
}

function validValue(name: string, value: string): boolean {
  try {
    checkHeaderValue(name, value);
    return true;
  } catch {
    return false;
  }
}

function allPairs(host: HostState, map: number, headers: HeaderList): Uint8Array {
  return serializePairs([...pseudoHeaders(host.request!, map), ...headers.raw]);
}

export function headerImports(host: HostState): HostFunctions {
  const memory = host.memory;
  return {
    proxy_get_header_map_value: guarded((map, keyPtr, keySize, retPtr, retSize) => {
      const headers = mapOf(host, map!, 'proxy_get_header_map_value');
      if (headers === null) return map! > MapType.HttpCallResponseTrailers ? Status.BadArgument : Status.NotFound;
      const key = memory.string(keyPtr!, keySize!).toLowerCase();
      let value: string | undefined;
      if (key.charCodeAt(0) === 0x3a) value = pseudoValue(host.request!, map!, key);
      else if (headers.count(key) > 1) value = headers.getAll(key).join(',');
      else value = headers.get(key);
      if (value === undefined) return Status.NotFound;
      memory.returnString(value, retPtr!, retSize!);
      return Status.Ok;
    }),
    proxy_add_header_map_value: guarded((map, keyPtr, keySize, valuePtr, valueSize) => {
      const headers = mapOf(host, map!, 'proxy_add_header_map_value');
      if (headers === null) return map! > MapType.HttpCallResponseTrailers ? Status.BadArgument : Status.NotFound;
      const key = memory.string(keyPtr!, keySize!).toLowerCase();
      const value = memory.string(valuePtr!, valueSize!);
      if (!writable(key) || !validValue(key, value)) return Status.BadArgument;
      headers.add(key, value);
      return Status.Ok;
    }),
    proxy_replace_header_map_value: guarded((map, keyPtr, keySize, valuePtr, valueSize) => {
      const headers = mapOf(host, map!, 'proxy_replace_header_map_value');
      if (headers === null) return map! > MapType.HttpCallResponseTrailers ? Status.BadArgument : Status.NotFound;
      const key = memory.string(keyPtr!, keySize!).toLowerCase();
      const value = memory.string(valuePtr!, valueSize!);
      if (key === ':path' && map === MapType.HttpRequestHeaders) {
        if (!PATH.test(value)) return Status.BadArgument;
        host.request!.path = value;
        return Status.Ok;
      }
      if (!writable(key) || !validValue(key, value)) return Status.BadArgument;
      headers.set(key, value);
      return Status.Ok;
    }),
    proxy_remove_header_map_value: guarded((map, keyPtr, keySize) => {
      const headers = mapOf(host, map!, 'proxy_remove_header_map_value');
      if (headers === null) return map! > MapType.HttpCallResponseTrailers ? Status.BadArgument : Status.NotFound;
      const key = memory.string(keyPtr!, keySize!).toLowerCase();
      if (!writable(key)) return Status.BadArgument;
      headers.remove(key);
      return Status.Ok;
    }),
    proxy_get_header_map_pairs: guarded((map, retPtr, retSize) => {
      const headers = mapOf(host, map!, 'proxy_get_header_map_pairs');
      if (headers === null) return map! > MapType.HttpCallResponseTrailers ? Status.BadArgument : Status.NotFound;
      memory.returnBytes(allPairs(host, map!, headers), retPtr!, retSize!);
      return Status.Ok;
    }),
    proxy_get_header_map_size: guarded((map, retSize) => {
      const headers = mapOf(host, map!, 'proxy_get_header_map_size');
      if (headers === null) return map! > MapType.HttpCallResponseTrailers ? Status.BadArgument : Status.NotFound;
      memory.setU32(retSize!, allPairs(host, map!, headers).length);
      return Status.Ok;
    }),
    proxy_set_header_map_pairs: guarded((map, ptr, size) => {
      const headers = mapOf(host, map!, 'proxy_set_header_map_pairs');
      if (headers === null) return map! > MapType.HttpCallResponseTrailers ? Status.BadArgument : Status.NotFound;
      let pairs: string[];
      try {
        pairs = deserializePairs(memory.bytes(ptr!, size!));
      } catch {
        return Status.ParseFailure;
      }
      const kept: string[] = [];
      let path: string | null = null;
      for (let i = 0; i < pairs.length; i += 2) {
        const key = pairs[i]!.toLowerCase();
        const value = pairs[i + 1]!;
        if (key.charCodeAt(0) === 0x3a) {
          if (key === ':path' && map === MapType.HttpRequestHeaders) {
            if (!PATH.test(value)) return Status.BadArgument;
            path = value;
          }
          continue;
        }
        // The proxy frames messages: the map's framing fields stay as they are.
        if (isFramingHeader(key)) continue;
        if (!writable(key) || !validValue(key, value)) return Status.BadArgument;
        kept.push(key, value);
      }
      const raw = headers.raw;
      const framing: string[] = [];
      for (let i = 0; i < raw.length; i += 2) if (isFramingHeader(raw[i]!)) framing.push(raw[i]!, raw[i + 1]!);
      raw.length = 0;
      raw.push(...kept, ...framing);
      if (path !== null) host.request!.path = path;
      return Status.Ok;
    }),
  };
}

/** Headers of a local response, checked like every header a filter sets. */
export function replyHeaders(bytes: Uint8Array): HeaderList | undefined {
  let pairs: string[];
  try {
    pairs = deserializePairs(bytes);
  } catch (error) {
    throw new HostCallError(`proxy_send_local_response: ${(error as Error).message}`);
  }
  if (pairs.length === 0) return undefined;
  const raw: string[] = [];
  for (let i = 0; i < pairs.length; i += 2) {
    const name = checkHeaderName(pairs[i]!.toLowerCase());
    raw.push(name, checkHeaderValue(name, pairs[i + 1]!));
  }
  return new HeaderList(raw);
}
