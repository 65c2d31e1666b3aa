import { describe, expect, it } from 'vitest';
import {
  CONNECTION_CLOSE,
  CONNECTION_KEEP_ALIVE,
  CONTENT_LENGTH_DIFFERING,
  CONTENT_LENGTH_INVALID,
  TE_HAS_OTHER,
  TE_INVALID,
  TE_LAST_CHUNKED,
  connectionOptions,
  parseContentLength,
  parseTransferEncoding,
} from '../src/http/index.js';

describe('parseContentLength', () => {
  it.each([
    ['0', 0],
    ['42', 42],
    ['007', 7],
    ['5, 5', 5],
    ['5,5 ,  5', 5],
    ['9007199254740991', 9007199254740991],
    ['9007199254740992', CONTENT_LENGTH_INVALID],
    ['99999999999999999', CONTENT_LENGTH_INVALID],
    ['', CONTENT_LENGTH_INVALID],
    [' ', CONTENT_LENGTH_INVALID],
    ['+1', CONTENT_LENGTH_INVALID],
    ['-1', CONTENT_LENGTH_INVALID],
    ['1e3', CONTENT_LENGTH_INVALID],
    ['0x10', CONTENT_LENGTH_INVALID],
    ['1 2', CONTENT_LENGTH_INVALID],
    ['5,', CONTENT_LENGTH_INVALID],
    [',5', CONTENT_LENGTH_INVALID],
    ['5,,5', CONTENT_LENGTH_INVALID],
    ['١٢', CONTENT_LENGTH_INVALID],
    ['5, 6', CONTENT_LENGTH_DIFFERING],
    ['5, 5, 50', CONTENT_LENGTH_DIFFERING],
  ])('%j -> %d', (value, expected) => {
    expect(parseContentLength(value)).toBe(expected);
  });
});

describe('parseTransferEncoding', () => {
  const chunked = (n: number) => n << 2;
  it.each([
    ['chunked', TE_LAST_CHUNKED | chunked(1)],
    ['Chunked', TE_LAST_CHUNKED | chunked(1)],
    ['gzip, chunked', TE_LAST_CHUNKED | TE_HAS_OTHER | chunked(1)],
    ['gzip;q=1 , chunked', TE_LAST_CHUNKED | TE_HAS_OTHER | chunked(1)],
    ['x;p="a,b", chunked', TE_LAST_CHUNKED | TE_HAS_OTHER | chunked(1)],
    [' , chunked ,', TE_LAST_CHUNKED | chunked(1)],
    ['chunked, gzip', TE_HAS_OTHER | chunked(1)],
    ['gzip', TE_HAS_OTHER],
    ['chunked, chunked', TE_LAST_CHUNKED | chunked(2)],
    ['chunkedx', TE_HAS_OTHER],
    ['', TE_INVALID],
    [' , ', TE_INVALID],
    ['"chunked"', TE_INVALID],
    ['chunked gzip', TE_INVALID],
    ['chunked/1', TE_INVALID],
  ])('%j -> %d', (value, expected) => {
    expect(parseTransferEncoding(value)).toBe(expected);
  });
});

describe('connectionOptions', () => {
  it.each([
    ['close', CONNECTION_CLOSE],
    ['Keep-Alive', CONNECTION_KEEP_ALIVE],
    ['keep-alive, Upgrade ,CLOSE', CONNECTION_CLOSE | CONNECTION_KEEP_ALIVE],
    ['upgrade', 0],
    ['closed', 0],
    ['', 0],
    [' , ,', 0],
  ])('%j -> %d', (value, expected) => {
    expect(connectionOptions(value)).toBe(expected);
  });
});
