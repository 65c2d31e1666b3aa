/**
 * gRPC over HTTP/2, as a proxy needs it: which requests are gRPC, the status codes and their names,
 * how an HTTP status the proxy answers itself becomes a gRPC status, and the `grpc-timeout` header.
 * (https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md, .../doc/statuscodes.md)
 */

/** gRPC status codes by name (statuscodes.md). */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const NAMES = Object.keys(GrpcStatus);

/** The upper-case name of a gRPC status (`UNAVAILABLE`), or `UNKNOWN` for a code outside 0-16. */
export function grpcStatusName(code: number): string {
  return Number.isInteger(code) && code >= 0 && code < NAMES.length ? NAMES[code]! : 'UNKNOWN';
}

/** A request is gRPC when its content-type is application/grpc, or application/grpc+proto, ;... */
export function isGrpcContentType(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType.length < 16) return false;
  if (!contentType.startsWith('application/grpc') && contentType.slice(0, 16).toLowerCase() !== 'application/grpc') return false;
  return grpcSuffixOk(contentType.charCodeAt(16));
}

function grpcSuffixOk(c: number): boolean {
  // end of string (NaN), '+', ';' or a space; never application/grpc-web (a different protocol).
  return Number.isNaN(c) || c === 0x2b || c === 0x3b || c === 0x20;
}

/**
 * The gRPC status a proxy-made answer carries in place of its HTTP status: its own timeouts are
 * DEADLINE_EXCEEDED, an endpoint it could not reach or that failed is UNAVAILABLE (which clients
 * retry), a request over a limit RESOURCE_EXHAUSTED; the rest follows gRPC's HTTP mapping.
 */
export function grpcStatusOfLocalReply(httpStatus: number): number {
  switch (httpStatus) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 408:
    case 504:
      return GrpcStatus.DEADLINE_EXCEEDED;
    case 413:
    case 414:
    case 429:
    case 431:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case 501:
      return GrpcStatus.UNIMPLEMENTED;
    case 502:
    case 503:
      return GrpcStatus.UNAVAILABLE;
    default:
      return GrpcStatus.UNKNOWN;
  }
}

/** Milliseconds per grpc-timeout unit. */
const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };

/**
 * A `grpc-timeout` value (1 to 8 digits and a unit: H M S m u n) in whole milliseconds, at least 1
 * (a deadline under a millisecond is still a deadline); undefined when the value is malformed.
 */
export function parseGrpcTimeout(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = value.length;
  if (n < 2 || n > 9) return undefined;
  const per = UNIT_MS[value[n - 1]!];
  if (per === undefined) return undefined;
  let digits = 0;
  for (let i = 0; i < n - 1; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    digits = digits * 10 + c;
  }
  return Math.max(1, Math.ceil(digits * per));
}

/** `grpc-message` is percent-encoded: everything outside printable ASCII, and '%' itself. */
export function encodeGrpcMessage(message: string): string {
  let out = '';
  for (const b of Buffer.from(message, 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}
