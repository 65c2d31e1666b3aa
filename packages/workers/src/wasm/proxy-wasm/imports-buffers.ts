/**
 * Buffers: proxy_get_buffer_bytes, proxy_get_buffer_status, proxy_set_buffer_bytes. A body can be
 * changed only while the chain withholds it (buffer_body), and only to the same length when the
 * message carries content-length (a chunked one may grow or shrink).
 */
import { BufferType, Status } from './abi.js';
import { guarded, type HostFunctions, type HostState } from './host.js';

/** The buffer `type` as the running callback may see it; null when it is not available now. */
function bufferOf(host: HostState, type: number): Uint8Array | null {
  if (type === BufferType.HttpRequestBody || type === BufferType.HttpResponseBody) {
    return host.bodyDirection === type ? host.body : null;
  }
  if (type === BufferType.PluginConfiguration || type === BufferType.VmConfiguration) {
    return host.configurationType === type ? host.configuration : null;
  }
  return null;
}

export function bufferImports(host: HostState): HostFunctions {
  const memory = host.memory;
  return {
    proxy_get_buffer_bytes: guarded((type, start, maxSize, retPtr, retSize) => {
      if (type! > BufferType.ForeignFunctionArguments) return Status.BadArgument;
      const buffer = bufferOf(host, type!);
      if (buffer === null) return Status.NotFound;
      const from = start! >>> 0;
      const max = maxSize! >>> 0;
      if (from + max > 0xffffffff) return Status.BadArgument;
      const end = Math.min(buffer.length, from + max);
      memory.returnBytes(from >= end ? buffer.subarray(0, 0) : buffer.subarray(from, end), retPtr!, retSize!);
      return Status.Ok;
    }),
    proxy_get_buffer_status: guarded((type, retSize, retFlags) => {
      if (type! > BufferType.ForeignFunctionArguments) return Status.BadArgument;
      const buffer = bufferOf(host, type!);
      if (buffer === null) return Status.NotFound;
      memory.setU32(retSize!, buffer.length);
      memory.setU32(retFlags!, 0);
      return Status.Ok;
    }),
    proxy_set_buffer_bytes: guarded((type, start, size, ptr, len) => {
      if (type! > BufferType.ForeignFunctionArguments) return Status.BadArgument;
      if (type !== BufferType.HttpRequestBody && type !== BufferType.HttpResponseBody) return Status.NotFound;
      const current = bufferOf(host, type);
      // A streamed chunk is already on its way: only a body the chain withholds (buffer_body) can change.
      if (current === null || !host.bodyBuffered) return Status.NotFound;
      const from = Math.min(start! >>> 0, current.length);
      const to = Math.min(current.length, from + (size! >>> 0));
      const value = memory.bytes(ptr!, len!);
      const next = new Uint8Array(from + value.length + (current.length - to));
      next.set(current.subarray(0, from), 0);
      next.set(value, from);
      next.set(current.subarray(to), from + value.length);
      // A message framed by content-length keeps its length: the proxy framed it when it arrived.
      const request = host.request!;
      const headers = type === BufferType.HttpRequestBody ? request.requestHeaders : request.responseHeaders;
      if (next.length !== current.length && headers !== null && headers.has('content-length')) return Status.BadArgument;
      host.body = next;
      host.rewrittenBody = next;
      return Status.Ok;
    }),
  };
}
