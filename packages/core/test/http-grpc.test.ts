/**
 * gRPC helpers, exactly: which content types are gRPC, the status names, the gRPC status a proxy-made
 * HTTP answer carries, `grpc-timeout` in milliseconds, and the percent-encoding of `grpc-message`.
 */
import { describe, expect, it } from 'vitest';
import { GrpcStatus, encodeGrpcMessage, grpcStatusName, grpcStatusOfLocalReply, isGrpcContentType, parseGrpcTimeout } from '../src/http/index.js';

describe('isGrpcContentType', () => {
  it.each<[string | undefined, boolean]>([
    ['application/grpc', true],
    ['application/grpc+proto', true],
    ['application/grpc+json', true],
    ['application/grpc;charset=utf-8', true],
    ['application/grpc ; q=1', true],
    ['Application/GRPC', true],
    ['APPLICATION/GRPC+PROTO', true],
    // gRPC-Web is another protocol (no trailers in HTTP/2 terms): not gRPC.
    ['application/grpc-web', false],
    ['application/grpc-web+proto', false],
    ['application/grpc-web-text', false],
    ['application/grpcx', false],
    ['application/grp', false],
    ['application/json', false],
    ['text/plain', false],
    ['', false],
    [undefined, false],
  ])('%j is gRPC: %s', (contentType, expected) => {
    expect(isGrpcContentType(contentType)).toBe(expected);
  });
});

describe('grpcStatusName', () => {
  it.each<[number, string]>([
    [0, 'OK'],
    [1, 'CANCELLED'],
    [4, 'DEADLINE_EXCEEDED'],
    [8, 'RESOURCE_EXHAUSTED'],
    [13, 'INTERNAL'],
    [14, 'UNAVAILABLE'],
    [16, 'UNAUTHENTICATED'],
    [17, 'UNKNOWN'],
    [-1, 'UNKNOWN'],
    [1.5, 'UNKNOWN'],
    [Number.NaN, 'UNKNOWN'],
  ])('%d is %s', (code, name) => expect(grpcStatusName(code)).toBe(name));

  it('names every code the table has', () => {
    for (const [name, code] of Object.entries(GrpcStatus)) expect(grpcStatusName(code)).toBe(name);
  });
});

describe('grpcStatusOfLocalReply', () => {
  it.each<[number, number]>([
    [400, GrpcStatus.INTERNAL],
    [401, GrpcStatus.UNAUTHENTICATED],
    [403, GrpcStatus.PERMISSION_DENIED],
    [404, GrpcStatus.UNIMPLEMENTED],
    [408, GrpcStatus.DEADLINE_EXCEEDED],
    [413, GrpcStatus.RESOURCE_EXHAUSTED],
    [414, GrpcStatus.RESOURCE_EXHAUSTED],
    [429, GrpcStatus.RESOURCE_EXHAUSTED],
    [431, GrpcStatus.RESOURCE_EXHAUSTED],
    [501, GrpcStatus.UNIMPLEMENTED],
    [502, GrpcStatus.UNAVAILABLE],
    [503, GrpcStatus.UNAVAILABLE],
    [504, GrpcStatus.DEADLINE_EXCEEDED],
    [500, GrpcStatus.UNKNOWN],
    [405, GrpcStatus.UNKNOWN],
    [505, GrpcStatus.UNKNOWN],
    [200, GrpcStatus.UNKNOWN],
  ])('HTTP %d is gRPC %d', (http, grpc) => expect(grpcStatusOfLocalReply(http)).toBe(grpc));
});

describe('parseGrpcTimeout', () => {
  it.each<[string, number]>([
    ['1H', 3_600_000],
    ['2M', 120_000],
    ['5S', 5_000],
    ['250m', 250],
    ['1000u', 1],
    ['1500u', 2], // rounded up: never a shorter deadline than asked
    ['1001u', 2],
    ['999u', 1],
    ['1u', 1], // under a millisecond is still a deadline
    ['2000000n', 2],
    ['1n', 1],
    ['0S', 1],
    ['00000001H', 3_600_000], // 8 digits, leading zeros allowed
    ['99999999S', 99_999_999_000],
    ['99999999H', 99_999_999 * 3_600_000],
  ])('%s = %d ms', (value, ms) => expect(parseGrpcTimeout(value)).toBe(ms));

  it.each<[string, string | undefined]>([
    ['absent', undefined],
    ['empty', ''],
    ['a unit alone', 'S'],
    ['no unit', '10'],
    ['an unknown unit', '10x'],
    ['seconds in lower case (s is not a unit)', '10s'],
    ['hours in lower case', '1h'],
    ['nine digits', '123456789S'],
    ['a sign', '-1S'],
    ['a plus sign', '+1S'],
    ['a decimal point', '1.5S'],
    ['a leading space', ' 1S'],
    ['a space before the unit', '1 S'],
    ['two units', '1SS'],
  ])('refuses %s', (_name, value) => expect(parseGrpcTimeout(value)).toBeUndefined());
});

describe('encodeGrpcMessage', () => {
  it.each<[string, string]>([
    ['', ''],
    ['upstream connect error', 'upstream connect error'],
    ['printable ASCII stays: ~!@#$^&*()', 'printable ASCII stays: ~!@#$^&*()'],
    ['100% done', '100%25 done'],
    ['line\nbreak', 'line%0Abreak'],
    ['tab\there', 'tab%09here'],
    ['caf\u00e9', 'caf%C3%A9'],
    ['\u{1F600}', '%F0%9F%98%80'],
    ['\u007f', '%7F'],
  ])('%j -> %j', (message, encoded) => expect(encodeGrpcMessage(message)).toBe(encoded));

  it('decodes back with decodeURIComponent', () => {
    const message = 'no healthy upstream: 100% of "api" ejected \u2014 retry later\r\n';
    expect(decodeURIComponent(encodeGrpcMessage(message))).toBe(message);
  });
});
