import { describe, expect, it } from 'vitest';
import { canonicalReason, isBodylessStatus } from '../src/http/index.js';

describe('isBodylessStatus', () => {
  it.each([
    [100, true],
    [101, true],
    [103, true],
    [199, true],
    [200, false],
    [204, true],
    [205, false],
    [206, false],
    [304, true],
    [404, false],
    [502, false],
  ])('%d -> %s', (status, bodyless) => {
    expect(isBodylessStatus(status)).toBe(bodyless);
  });
});

describe('canonicalReason', () => {
  it.each([
    [100, 'Continue'],
    [200, 'OK'],
    [204, 'No Content'],
    [304, 'Not Modified'],
    [413, 'Content Too Large'],
    [431, 'Request Header Fields Too Large'],
    [502, 'Bad Gateway'],
    [504, 'Gateway Timeout'],
    [299, ''],
    [999, ''],
  ])('%d -> %j', (status, reason) => {
    expect(canonicalReason(status)).toBe(reason);
  });
});
