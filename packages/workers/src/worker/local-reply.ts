/**
 * Responses the proxy makes itself. Each carries `server: pillion` and a short plain-text body saying
 * what happened, so an operator reading a client's error can tell the proxy's answer from the upstream's.
 */
import { canonicalReason, encodeGrpcMessage, grpcStatusOfLocalReply, type HeaderList } from '@pillion/core';
import type { Downstream } from './downstream.js';

export const LOCAL_REPLY_TEXT: Record<number, string> = {
  400: 'bad request',
  403: 'forbidden',
  404: 'no route',
  408: 'request head timeout',
  413: 'request body too large',
  414: 'request target too long',
  431: 'request header fields too large',
  500: 'internal error',
  501: 'not implemented',
  502: 'upstream reset or invalid response',
  503: 'no healthy upstream',
  504: 'upstream timeout',
  505: 'HTTP version not supported',
};

/** "404 Not Found": the status line's code and registered reason phrase. */
export function statusLine(status: number): string {
  const reason = canonicalReason(status);
  return reason ? `${status} ${reason}` : String(status);
}

/**
 * Writes a complete local reply. Must run inside a uWS handler or a cork. `close` asks uWS to close the
 * connection after the reply (for malformed requests the connection's framing cannot be trusted).
 */
export function writeLocalReply(res: Downstream, status: number, detail: string | undefined, close: boolean, extra?: readonly string[]): void {
  res.writeStatus(statusLine(status));
  res.writeHeader('server', 'pillion');
  res.writeHeader('content-type', 'text/plain; charset=utf-8');
  if (extra) for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
  const text = LOCAL_REPLY_TEXT[status] ?? 'error';
  res.end(detail ? `${text}: ${detail}\n` : `${text}\n`, close);
}

/**
 * Writes the reply a filter made (FilterRequest.sendLocalReply): its status, body and fields, with
 * framing and Date left to the codec. Must run inside a cork.
 */
export function writeFilterReply(res: Downstream, status: number, body: string, headers: HeaderList | null, close: boolean): void {
  res.writeStatus(statusLine(status));
  if (headers === null || !headers.has('server')) res.writeHeader('server', 'pillion');
  if (headers !== null) {
    const raw = headers.raw;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      if (name !== 'content-length' && name !== 'transfer-encoding' && name !== 'date') res.writeHeader(name, raw[i + 1]!);
    }
  }
  res.end(body, close);
}

/**
 * The proxy's answer to a gRPC request: HTTP 200 with the gRPC status for `status` (UNAVAILABLE,
 * DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED...) and the reason in grpc-message, sent trailers-only (one
 * HEADERS frame that ends the stream), which is what a gRPC client reads a status from when no
 * message came. Returns the gRPC status sent. Must run inside a cork.
 */
export function writeGrpcReply(res: Downstream, status: number, detail: string | undefined, close: boolean, extra?: readonly string[]): number {
  const code = grpcStatusOfLocalReply(status);
  const text = LOCAL_REPLY_TEXT[status] ?? 'error';
  res.writeStatus('200 OK');
  res.writeHeader('server', 'pillion');
  res.writeHeader('content-type', 'application/grpc');
  res.writeHeader('grpc-status', String(code));
  res.writeHeader('grpc-message', encodeGrpcMessage(detail ? `${text}: ${detail}` : text));
  if (extra) for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
  res.end(undefined, close);
  return code;
}

/** The grpc-status a head or trailer block carries; -1 when it has none (or not a number). */
export function grpcStatusOf(fields: HeaderList): number {
  const v = fields.get('grpc-status');
  if (v === undefined || v.length === 0 || v.length > 2) return -1;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : -1;
}
