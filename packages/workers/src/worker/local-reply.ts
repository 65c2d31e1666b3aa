/**
 * Responses the proxy makes itself. Each carries `server: pillion` and a short plain-text body saying
 * what happened, so an operator reading a client's error can tell the proxy's answer from the upstream's.
 */
import type { Downstream } from './downstream.js';

export const LOCAL_REPLY_TEXT: Record<number, string> = {
  400: 'bad request',
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

const STATUS_LINE: Record<number, string> = {
  400: '400 Bad Request',
  404: '404 Not Found',
  408: '408 Request Timeout',
  413: '413 Content Too Large',
  414: '414 URI Too Long',
  431: '431 Request Header Fields Too Large',
  500: '500 Internal Server Error',
  501: '501 Not Implemented',
  502: '502 Bad Gateway',
  503: '503 Service Unavailable',
  504: '504 Gateway Timeout',
  505: '505 HTTP Version Not Supported',
};

export function statusLine(status: number): string {
  return STATUS_LINE[status] ?? String(status);
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
