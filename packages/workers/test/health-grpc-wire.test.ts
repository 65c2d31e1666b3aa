/**
 * The bytes of the gRPC health check, exactly: HealthCheckRequest and HealthCheckResponse in protobuf,
 * gRPC's length-prefixed framing, and the verdict on an answer (head, trailers, body).
 */
import { describe, expect, it } from 'vitest';
import {
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  frameGrpcMessage,
  healthCheckVerdict,
  readGrpcMessages,
  servingStatusName,
  ServingStatus,
} from '../src/supervisor/grpc-health-wire.js';

const hex = (b: Buffer) => b.toString('hex');
const bytes = (h: string) => Buffer.from(h.replace(/ /g, ''), 'hex');

describe('HealthCheckRequest', () => {
  it.each([
    ['the empty service is omitted (proto3 default)', '', ''],
    ['field 1, length-delimited', 'svc', '0a 03 737663'],
    ['a dotted name', 'grpc.health.v1.Health', '0a 15 677270632e6865616c74682e76312e4865616c7468'],
    ['UTF-8 bytes, not characters', 'é', '0a 02 c3a9'],
  ])('%s', (_name, service, expected) => {
    expect(hex(encodeHealthCheckRequest(service))).toBe(expected.replace(/ /g, ''));
  });

  it('a name of 200 bytes has a two-byte varint length', () => {
    const b = encodeHealthCheckRequest('x'.repeat(200));
    expect(hex(b.subarray(0, 3))).toBe('0ac801');
    expect(b.length).toBe(203);
  });
});

describe('gRPC message framing', () => {
  it('frames with a zero flag and a 4-byte big-endian length', () => {
    expect(hex(frameGrpcMessage(Buffer.alloc(0)))).toBe('0000000000');
    expect(hex(frameGrpcMessage(bytes('0a03737663')))).toBe('00000000050a03737663');
    expect(hex(frameGrpcMessage(Buffer.alloc(0x10203)).subarray(0, 5))).toBe('0000010203');
  });

  it.each<[string, string, string[]]>([
    ['an empty body has no messages', '', []],
    ['one empty message', '00 00000000', ['']],
    ['one message', '00 00000002 0801', ['0801']],
    ['two messages', '00 00000002 0801 00 00000002 0802', ['0801', '0802']],
  ])('reads %s', (_name, body, messages) => {
    expect(readGrpcMessages(bytes(body)).map(hex)).toEqual(messages);
  });

  it.each([
    ['a prefix cut short', '00 0000', 'truncated gRPC message prefix: 3 of 5 bytes'],
    ['a message cut short', '00 00000003 0801', 'truncated gRPC message: 2 of 3 bytes'],
    ['a second message cut short', '00 00000002 0801 00', 'truncated gRPC message prefix: 1 of 5 bytes'],
    ['a compressed message', '01 00000002 0801', 'compressed gRPC message (flag 1): none was asked for'],
  ])('refuses %s', (_name, body, message) => {
    expect(() => readGrpcMessages(bytes(body))).toThrow(new RangeError(message));
  });
});

describe('HealthCheckResponse', () => {
  it.each<[string, string, number]>([
    ['no field: UNKNOWN', '', ServingStatus.UNKNOWN],
    ['SERVING', '0801', ServingStatus.SERVING],
    ['NOT_SERVING', '0802', ServingStatus.NOT_SERVING],
    ['SERVICE_UNKNOWN', '0803', ServingStatus.SERVICE_UNKNOWN],
    ['a value outside the enum', '08 ac02', 300],
    ['a repeated field: the last wins', '0801 0802', 2],
    ['unknown varint field skipped', '28 9601 0801', 1],
    ['unknown length-delimited field skipped', '12 02 6162 0801', 1],
    ['unknown fixed32 field skipped', '0801 1d 01020304', 1],
    ['unknown fixed64 field skipped', '21 0102030405060708 0802', 2],
    ['a ten-byte varint (a negative int32)', '08 ffffffffffffffffff01', 18446744073709552000],
  ])('%s', (_name, message, status) => {
    expect(decodeHealthCheckResponse(bytes(message))).toBe(status);
  });

  it.each([
    ['a tag without its value', '08', 'invalid HealthCheckResponse: truncated varint'],
    ['a varint longer than 10 bytes', '08 ffffffffffffffffffff01', 'invalid HealthCheckResponse: varint longer than 10 bytes'],
    ['status with a length-delimited wire type', '0a 00', 'invalid HealthCheckResponse: status has wire type 2, expected 0 (varint)'],
    ['field number 0', '00 01', 'invalid HealthCheckResponse: field number 0'],
    ['a group (wire type 3)', '1b', 'invalid HealthCheckResponse: unsupported wire type 3'],
    ['a length-delimited field cut short', '12 05 61', 'invalid HealthCheckResponse: truncated field'],
    ['a fixed32 field cut short', '1d 0102', 'invalid HealthCheckResponse: truncated field'],
  ])('refuses %s', (_name, message, error) => {
    expect(() => decodeHealthCheckResponse(bytes(message))).toThrow(new RangeError(error));
  });

  it('names the statuses', () => {
    expect([0, 1, 2, 3, 7].map(servingStatusName)).toEqual(['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN', 'status 7']);
  });
});

describe('the verdict on a Check answer', () => {
  const ok = { ':status': '200', 'content-type': 'application/grpc' };
  const body = (status: number) => frameGrpcMessage(Buffer.from([0x08, status]));
  it.each<[string, Record<string, string>, Record<string, string> | null, Buffer, { ok: boolean; detail: string }]>([
    ['SERVING, grpc-status 0 in the trailers', ok, { 'grpc-status': '0' }, body(1), { ok: true, detail: 'SERVING' }],
    ['NOT_SERVING', ok, { 'grpc-status': '0' }, body(2), { ok: false, detail: 'NOT_SERVING' }],
    ['SERVICE_UNKNOWN', ok, { 'grpc-status': '0' }, body(3), { ok: false, detail: 'SERVICE_UNKNOWN' }],
    ['UNKNOWN (an empty message)', ok, { 'grpc-status': '0' }, frameGrpcMessage(Buffer.alloc(0)), { ok: false, detail: 'UNKNOWN' }],
    ['an HTTP status other than 200', { ':status': '503' }, null, Buffer.alloc(0), { ok: false, detail: 'status 503' }],
    ['no grpc-status anywhere', ok, null, body(1), { ok: false, detail: 'no grpc-status' }],
    ['trailers without grpc-status', ok, { 'x-other': '1' }, body(1), { ok: false, detail: 'no grpc-status' }],
    [
      'a trailers-only error, its message percent-decoded',
      { ...ok, 'grpc-status': '5', 'grpc-message': 'unknown%20service%20%C3%A9' },
      null,
      Buffer.alloc(0),
      { ok: false, detail: 'grpc-status 5 NOT_FOUND: unknown service é' },
    ],
    ['UNAVAILABLE in the trailers, without a message', ok, { 'grpc-status': '14' }, Buffer.alloc(0), { ok: false, detail: 'grpc-status 14 UNAVAILABLE' }],
    ['a grpc-message that is not well-formed percent-encoding', ok, { 'grpc-status': '13', 'grpc-message': 'bad%zz' }, Buffer.alloc(0), { ok: false, detail: 'grpc-status 13 INTERNAL: bad%zz' }],
    ['a code outside the table', ok, { 'grpc-status': '99' }, Buffer.alloc(0), { ok: false, detail: 'grpc-status 99 UNKNOWN' }],
    ['a grpc-status that is not a number', ok, { 'grpc-status': 'ok' }, body(1), { ok: false, detail: 'invalid grpc-status "ok"' }],
    ['grpc-status 0 without a message', ok, { 'grpc-status': '0' }, Buffer.alloc(0), { ok: false, detail: 'expected one HealthCheckResponse, got 0' }],
    ['two messages', ok, { 'grpc-status': '0' }, Buffer.concat([body(1), body(1)]), { ok: false, detail: 'expected one HealthCheckResponse, got 2' }],
    ['a body cut short', ok, { 'grpc-status': '0' }, body(1).subarray(0, 6), { ok: false, detail: 'truncated gRPC message: 1 of 2 bytes' }],
    ['a malformed message', ok, { 'grpc-status': '0' }, frameGrpcMessage(bytes('08')), { ok: false, detail: 'invalid HealthCheckResponse: truncated varint' }],
  ])('%s', (_name, head, trailers, b, expected) => {
    expect(healthCheckVerdict(head, trailers, b)).toEqual(expected);
  });

  it('cuts a long grpc-message short', () => {
    const r = healthCheckVerdict(ok, { 'grpc-status': '2', 'grpc-message': 'x'.repeat(300) }, Buffer.alloc(0));
    expect(r.detail).toBe(`grpc-status 2 UNKNOWN: ${'x'.repeat(200)}...`);
  });
});
