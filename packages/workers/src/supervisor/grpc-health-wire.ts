/**
 * The bytes of a gRPC health check (grpc.health.v1.Health/Check), written and read by hand: the two
 * messages are one field each, so a protobuf library would be all weight and no work.
 *
 *   message HealthCheckRequest  { string service = 1; }
 *   message HealthCheckResponse { enum ServingStatus { UNKNOWN = 0; SERVING = 1; NOT_SERVING = 2;
 *                                   SERVICE_UNKNOWN = 3; }  ServingStatus status = 1; }
 *
 * On the wire each message travels in gRPC's length-prefixed framing: one flag byte (1: compressed),
 * a 4-byte big-endian length, the message. (https://github.com/grpc/grpc/blob/master/doc/health-checking.md,
 * .../doc/PROTOCOL-HTTP2.md; protobuf encoding: https://protobuf.dev/programming-guides/encoding/)
 *
 * Also here, as pure logic: the verdict on an answer (its head, trailers and body).
 */
import { grpcStatusName } from '@pillion/core';
import type { ProbeResult } from './probe-run.js';

/** The path of the call. */
export const HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';

/** HealthCheckResponse.ServingStatus. */
export const ServingStatus = { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } as const;

const STATUS_NAMES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/** A ServingStatus's name; a value outside the enum (a newer server's) by its number. */
export function servingStatusName(status: number): string {
  return STATUS_NAMES[status] ?? `status ${status}`;
}

/** Bytes of the 5-byte prefix of a gRPC message. */
const PREFIX = 5;
/** The largest HealthCheckResponse accepted; a real one is 2 bytes, so anything near this is not one. */
export const MAX_RESPONSE_BYTES = 4096;

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** A HealthCheckRequest: field 1 (length-delimited) holds the service name; the empty name is omitted, as proto3 does. */
export function encodeHealthCheckRequest(service: string): Buffer {
  if (service === '') return Buffer.alloc(0);
  const name = Buffer.from(service, 'utf8');
  return Buffer.concat([Buffer.from([(1 << 3) | WIRE_LEN]), encodeVarint(name.length), name]);
}

/** One message in gRPC framing, uncompressed. */
export function frameGrpcMessage(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(PREFIX + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, PREFIX);
  return out;
}

/**
 * The messages of a gRPC response body, in order. Throws a RangeError when the body ends inside a
 * message or its prefix, or a message is compressed (the check never offers an encoding, so a server
 * has no business compressing).
 */
export function readGrpcMessages(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < body.length) {
    if (body.length - at < PREFIX) throw new RangeError(`truncated gRPC message prefix: ${body.length - at} of 5 bytes`);
    const flag = body[at]!;
    const length = body.readUInt32BE(at + 1);
    if (flag !== 0) throw new RangeError(`compressed gRPC message (flag ${flag}): none was asked for`);
    if (body.length - at - PREFIX < length) throw new RangeError(`truncated gRPC message: ${body.length - at - PREFIX} of ${length} bytes`);
    out.push(body.subarray(at + PREFIX, at + PREFIX + length));
    at += PREFIX + length;
  }
  return out;
}

/**
 * The `status` of a HealthCheckResponse. A message without the field is UNKNOWN (proto3 omits a zero);
 * other fields, which a newer server might add, are skipped; when the field repeats the last one wins,
 * as protobuf says. Throws a RangeError on a malformed message.
 */
export function decodeHealthCheckResponse(message: Buffer): number {
  let status: number = ServingStatus.UNKNOWN;
  const r = { at: 0 };
  while (r.at < message.length) {
    const tag = readVarint(message, r);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    if (field === 0) throw new RangeError('invalid HealthCheckResponse: field number 0');
    if (field === 1 && wire === WIRE_VARINT) {
      status = readVarint(message, r);
      continue;
    }
    if (field === 1) throw new RangeError(`invalid HealthCheckResponse: status has wire type ${wire}, expected 0 (varint)`);
    skipField(message, r, wire);
  }
  return status;
}

function skipField(b: Buffer, r: { at: number }, wire: number): void {
  let skip: number;
  if (wire === WIRE_VARINT) {
    readVarint(b, r);
    return;
  } else if (wire === WIRE_I64) skip = 8;
  else if (wire === WIRE_I32) skip = 4;
  else if (wire === WIRE_LEN) skip = readVarint(b, r);
  else throw new RangeError(`invalid HealthCheckResponse: unsupported wire type ${wire}`);
  if (b.length - r.at < skip) throw new RangeError('invalid HealthCheckResponse: truncated field');
  r.at += skip;
}

/**
 * A base-128 varint (at most 10 bytes). Values above 2^53 lose precision, which no field read here
 * cares about: an enum that large is simply not SERVING.
 */
function readVarint(b: Buffer, r: { at: number }): number {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (r.at >= b.length) throw new RangeError('invalid HealthCheckResponse: truncated varint');
    const byte = b[r.at++]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return value;
    scale *= 128;
  }
  throw new RangeError('invalid HealthCheckResponse: varint longer than 10 bytes');
}

function encodeVarint(n: number): Buffer {
  const bytes: number[] = [];
  while (n >= 0x80) {
    bytes.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  bytes.push(n);
  return Buffer.from(bytes);
}

type Fields = Record<string, string | string[] | undefined>;

/**
 * Whether a Check answer passes: HTTP status 200, `grpc-status` 0 (in the trailers, or in the head of a
 * trailers-only answer, the form of every error sent before a message) and one HealthCheckResponse
 * saying SERVING. Anything else fails, naming what was wrong: `status 503`, `no grpc-status`,
 * `grpc-status 5 NOT_FOUND: unknown service`, `NOT_SERVING`, a malformed body.
 */
export function healthCheckVerdict(head: Fields, trailers: Fields | null, body: Buffer): ProbeResult {
  const status = Number(head[':status']);
  if (status !== 200) return { ok: false, detail: `status ${head[':status']}` };
  const fields = trailers ?? head;
  const raw = fields['grpc-status'];
  if (raw === undefined) return { ok: false, detail: 'no grpc-status' };
  const text = String(raw);
  if (!/^\d{1,9}$/.test(text)) return { ok: false, detail: `invalid grpc-status ${JSON.stringify(text)}` };
  const code = Number(text);
  if (code !== 0) {
    const message = fields['grpc-message'];
    return { ok: false, detail: `grpc-status ${code} ${grpcStatusName(code)}${message === undefined || message === '' ? '' : `: ${decodeGrpcMessage(String(message))}`}` };
  }
  let serving: number;
  try {
    const messages = readGrpcMessages(body);
    if (messages.length !== 1) return { ok: false, detail: `expected one HealthCheckResponse, got ${messages.length}` };
    serving = decodeHealthCheckResponse(messages[0]!);
  } catch (e) {
    return { ok: false, detail: (e as Error).message };
  }
  return { ok: serving === ServingStatus.SERVING, detail: servingStatusName(serving) };
}

/** Longest grpc-message quoted in a detail. */
const MAX_MESSAGE = 200;

/** `grpc-message` is percent-encoded UTF-8; one that is not well formed is shown as sent. */
function decodeGrpcMessage(message: string): string {
  let text: string;
  try {
    text = decodeURIComponent(message);
  } catch {
    text = message;
  }
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}...` : text;
}
