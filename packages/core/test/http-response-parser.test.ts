import { describe, expect, it } from 'vitest';
import { HeaderList, ResponseError, ResponseParser } from '../src/http/index.js';
import type { ResponseBodyKind, ResponseHandler, ResponseParserOptions } from '../src/http/index.js';

type Event =
  | ['head', number, string, number, string[], ResponseBodyKind, number, boolean]
  | ['info', number, string[]]
  | ['body', string]
  | ['trailers', string[]]
  | ['complete', boolean];

/** Records events; consecutive body pieces are joined so every way of splitting the input compares equal. */
class Recorder implements ResponseHandler {
  events: Event[] = [];
  completed = false;
  onResponseHead(
    status: number,
    reason: string,
    versionMinor: number,
    headers: HeaderList,
    bodyKind: ResponseBodyKind,
    contentLength: number,
    keepAlive: boolean,
  ): void {
    this.events.push(['head', status, reason, versionMinor, headers.raw.slice(), bodyKind, contentLength, keepAlive]);
  }
  onInformational(status: number, headers: HeaderList): void {
    this.events.push(['info', status, headers.raw.slice()]);
  }
  onBody(chunk: Buffer): void {
    expect(chunk.length).toBeGreaterThan(0);
    const last = this.events[this.events.length - 1];
    if (last !== undefined && last[0] === 'body') last[1] += chunk.toString('latin1');
    else this.events.push(['body', chunk.toString('latin1')]);
  }
  onTrailers(trailers: HeaderList): void {
    this.events.push(['trailers', trailers.raw.slice()]);
  }
  onMessageComplete(keepAlive: boolean): void {
    this.completed = true;
    this.events.push(['complete', keepAlive]);
  }
}

interface Row {
  name: string;
  input: string;
  /** Bytes after the message that the parser must leave unconsumed. */
  rest?: string;
  head?: boolean;
  eof?: boolean;
  options?: ResponseParserOptions;
  events: Event[];
  error?: number;
}

interface Outcome {
  events: Event[];
  rc: number;
  leftover: number;
}

/** Feeds `pieces` in order, stopping at an error or right after the message completes. */
function run(row: Row, pieces: Buffer[]): Outcome {
  const rec = new Recorder();
  const parser = new ResponseParser(rec, row.options);
  parser.reset(row.head ?? false);
  const total = pieces.reduce((n, p) => n + p.length, 0);
  let offset = 0;
  let rc = 0;
  let leftover = 0;
  for (const piece of pieces) {
    rc = parser.execute(piece);
    if (rc !== 0) break;
    if (rec.completed) {
      leftover = total - offset - parser.consumed;
      break;
    }
    expect(parser.consumed).toBe(piece.length);
    offset += piece.length;
  }
  if (rc === 0 && row.eof === true && !rec.completed) rc = parser.finish();
  if (rc !== 0) {
    expect(parser.errorCode).toBe(rc);
    expect(parser.errorReason).not.toBe('');
  }
  return { events: rec.events, rc, leftover };
}

const E = ResponseError;
const OK = 'HTTP/1.1 200 OK\r\n';
const CHUNKED = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
const CHUNKED_HEAD: Event = ['head', 200, 'OK', 1, ['transfer-encoding', 'chunked'], 'chunked', -1, true];

const rows: Row[] = [
  // Valid responses.
  {
    name: 'content-length body',
    input: OK + 'Content-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello',
    events: [
      ['head', 200, 'OK', 1, ['content-length', '5', 'content-type', 'text/plain'], 'length', 5, true],
      ['body', 'hello'],
      ['complete', true],
    ],
  },
  {
    name: 'content-length 0',
    input: OK + 'content-length: 0\r\n\r\n',
    events: [['head', 200, 'OK', 1, ['content-length', '0'], 'length', 0, true], ['complete', true]],
  },
  {
    name: 'chunked body in two chunks',
    input: CHUNKED + '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n',
    events: [CHUNKED_HEAD, ['body', 'hello world'], ['complete', true]],
  },
  {
    name: 'chunk sizes in upper-case hex with leading zeros; extensions ignored',
    input: CHUNKED + '00A;name=value;q="a;b"\r\n0123456789\r\n1 \t;ext\r\n!\r\n0;last\r\n\r\n',
    events: [CHUNKED_HEAD, ['body', '0123456789!'], ['complete', true]],
  },
  {
    name: 'trailers are reported apart from the head',
    input: OK + 'Transfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n3\r\nabc\r\n0\r\nX-Checksum: 42\r\nServer-Timing: db;dur=53\r\n\r\n',
    events: [
      ['head', 200, 'OK', 1, ['transfer-encoding', 'chunked', 'trailer', 'X-Checksum'], 'chunked', -1, true],
      ['body', 'abc'],
      ['trailers', ['x-checksum', '42', 'server-timing', 'db;dur=53']],
      ['complete', true],
    ],
  },
  {
    name: 'body without framing runs to EOF',
    input: OK + 'Content-Type: text/plain\r\n\r\nuntil the end',
    eof: true,
    events: [
      ['head', 200, 'OK', 1, ['content-type', 'text/plain'], 'close', -1, false],
      ['body', 'until the end'],
      ['complete', false],
    ],
  },
  {
    name: 'HTTP/1.0 closes by default',
    input: 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi',
    events: [['head', 200, 'OK', 0, ['content-length', '2'], 'length', 2, false], ['body', 'hi'], ['complete', false]],
  },
  {
    name: 'HTTP/1.0 with Connection: keep-alive',
    input: 'HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi',
    events: [
      ['head', 200, 'OK', 0, ['connection', 'Keep-Alive', 'content-length', '2'], 'length', 2, true],
      ['body', 'hi'],
      ['complete', true],
    ],
  },
  {
    name: 'Connection: close anywhere in the list',
    input: OK + 'Connection: keep-alive, Close\r\nContent-Length: 1\r\n\r\nx',
    events: [
      ['head', 200, 'OK', 1, ['connection', 'keep-alive, Close', 'content-length', '1'], 'length', 1, false],
      ['body', 'x'],
      ['complete', false],
    ],
  },
  {
    name: 'HEAD response keeps its content-length and has no body',
    head: true,
    input: OK + 'Content-Length: 1234\r\n\r\n',
    events: [['head', 200, 'OK', 1, ['content-length', '1234'], 'none', 1234, true], ['complete', true]],
  },
  {
    name: 'HEAD response with chunked has no body',
    head: true,
    input: CHUNKED,
    events: [['head', 200, 'OK', 1, ['transfer-encoding', 'chunked'], 'none', -1, true], ['complete', true]],
  },
  {
    name: '204 with content-length has no body',
    input: 'HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n',
    events: [['head', 204, 'No Content', 1, ['content-length', '10'], 'none', 10, true], ['complete', true]],
  },
  {
    name: '304 has no body',
    input: 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n',
    events: [['head', 304, 'Not Modified', 1, ['etag', '"x"'], 'none', -1, true], ['complete', true]],
  },
  {
    name: '100 Continue, then the final response',
    input: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
    events: [
      ['info', 100, []],
      ['head', 201, 'Created', 1, ['content-length', '2'], 'length', 2, true],
      ['body', 'ok'],
      ['complete', true],
    ],
  },
  {
    name: 'unsolicited 103 with fields, then the final response',
    input: 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n' + OK + 'Content-Length: 0\r\n\r\n',
    events: [
      ['info', 103, ['link', '</a.css>; rel=preload']],
      ['head', 200, 'OK', 1, ['content-length', '0'], 'length', 0, true],
      ['complete', true],
    ],
  },
  {
    name: 'empty reason after the space',
    input: 'HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n',
    events: [['head', 404, '', 1, ['content-length', '0'], 'length', 0, true], ['complete', true]],
  },
  {
    name: 'no reason and no space',
    input: 'HTTP/1.1 500\r\nContent-Length: 0\r\n\r\n',
    events: [['head', 500, '', 1, ['content-length', '0'], 'length', 0, true], ['complete', true]],
  },
  {
    name: 'reason with spaces and obs-text',
    input: 'HTTP/1.1 418 I\'m a  te\xe1pot\r\nContent-Length: 0\r\n\r\n',
    events: [['head', 418, "I'm a  te\xe1pot", 1, ['content-length', '0'], 'length', 0, true], ['complete', true]],
  },
  {
    name: 'names lower-cased, whitespace around values trimmed, obs-text and repeats kept',
    input: OK + 'X-Custom-Thing:  \t a b \t\r\nEmpty:\r\nX-Latin: caf\xe9\r\nSet-Cookie: a=1\r\nSET-COOKIE: b=2\r\nContent-Length: 0\r\n\r\n',
    events: [
      [
        'head', 200, 'OK', 1,
        ['x-custom-thing', 'a b', 'empty', '', 'x-latin', 'caf\xe9', 'set-cookie', 'a=1', 'set-cookie', 'b=2', 'content-length', '0'],
        'length', 0, true,
      ],
      ['complete', true],
    ],
  },
  {
    name: 'identical content-length lines collapse to one',
    input: OK + 'Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc',
    events: [['head', 200, 'OK', 1, ['content-length', '3'], 'length', 3, true], ['body', 'abc'], ['complete', true]],
  },
  {
    name: 'a content-length list of one value collapses',
    input: OK + 'Content-Length: 3, 3,3\r\n\r\nabc',
    events: [['head', 200, 'OK', 1, ['content-length', '3'], 'length', 3, true], ['body', 'abc'], ['complete', true]],
  },
  {
    name: 'final coding other than chunked: body runs to EOF',
    input: OK + 'Transfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n',
    eof: true,
    events: [
      ['head', 200, 'OK', 1, ['transfer-encoding', 'chunked, gzip'], 'close', -1, false],
      ['body', '5\r\nhello\r\n'],
      ['complete', false],
    ],
  },
  {
    name: 'codings over two lines ending in chunked',
    input: OK + 'Transfer-Encoding: gzip\r\nTransfer-Encoding: CHUNKED\r\n\r\n2\r\n\x1f\x8b\r\n0\r\n\r\n',
    events: [
      ['head', 200, 'OK', 1, ['transfer-encoding', 'gzip', 'transfer-encoding', 'CHUNKED'], 'chunked', -1, true],
      ['body', '\x1f\x8b'],
      ['complete', true],
    ],
  },
  {
    name: '101 ends the message and leaves the new protocol bytes',
    input: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    rest: '\x81\x05hello',
    events: [
      ['head', 101, 'Switching Protocols', 1, ['upgrade', 'websocket', 'connection', 'Upgrade'], 'none', -1, false],
      ['complete', false],
    ],
  },
  {
    name: 'bytes after a complete message are left unconsumed',
    input: OK + 'Content-Length: 2\r\n\r\nok',
    rest: OK,
    events: [['head', 200, 'OK', 1, ['content-length', '2'], 'length', 2, true], ['body', 'ok'], ['complete', true]],
  },

  // Invalid responses.
  { name: 'bare LF ends the status line', input: 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n', events: [], error: E.BARE_LF },
  { name: 'bare LF ends a field line', input: OK + 'Content-Length: 0\n\r\n', events: [], error: E.BARE_LF },
  { name: 'bare LF ends the head', input: OK + 'Content-Length: 0\r\n\n', events: [], error: E.BARE_LF },
  { name: 'bare CR inside a value', input: OK + 'X: a\rb\r\n\r\n', events: [], error: E.BARE_CR },
  { name: 'bare CR inside a name', input: OK + 'X\rY: a\r\n\r\n', events: [], error: E.BARE_CR },
  { name: 'obs-fold', input: OK + 'X-A: one\r\n two\r\nContent-Length: 0\r\n\r\n', events: [], error: E.OBS_FOLD },
  { name: 'whitespace before colon', input: OK + 'Content-Length : 5\r\n\r\nhello', events: [], error: E.WHITESPACE_BEFORE_COLON },
  { name: 'non-token byte in a name', input: OK + 'Bad@Name: x\r\n\r\n', events: [], error: E.INVALID_HEADER_NAME },
  { name: 'empty name', input: OK + ': x\r\n\r\n', events: [], error: E.INVALID_HEADER_NAME },
  { name: 'line without colon', input: OK + 'NoColon\r\n\r\n', events: [], error: E.INVALID_HEADER_NAME },
  { name: 'NUL in a value', input: OK + 'X: a\0b\r\n\r\n', events: [], error: E.INVALID_HEADER_VALUE },
  {
    name: 'differing content-length lines',
    input: OK + 'Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
    events: [],
    error: E.DIFFERING_CONTENT_LENGTH,
  },
  { name: 'differing content-length list', input: OK + 'Content-Length: 5, 6\r\n\r\n', events: [], error: E.DIFFERING_CONTENT_LENGTH },
  ...['+5', '5x', '-1', '0x5', '', '5,', ', 5', '1 2', '5.0', '9007199254740992', '00000000000000001'].map(
    (v): Row => ({
      name: `content-length ${JSON.stringify(v)}`,
      input: OK + `Content-Length: ${v}\r\n\r\n`,
      events: [],
      error: E.INVALID_CONTENT_LENGTH,
    }),
  ),
  {
    name: 'content-length with transfer-encoding',
    input: OK + 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    events: [],
    error: E.CONTENT_LENGTH_WITH_TRANSFER_ENCODING,
  },
  {
    name: 'transfer-encoding in HTTP/1.0',
    input: 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    events: [],
    error: E.TRANSFER_ENCODING_IN_HTTP10,
  },
  { name: 'chunked applied twice', input: OK + 'Transfer-Encoding: chunked, chunked\r\n\r\n', events: [], error: E.INVALID_TRANSFER_ENCODING },
  { name: 'empty transfer-encoding', input: OK + 'Transfer-Encoding:\r\n\r\n', events: [], error: E.INVALID_TRANSFER_ENCODING },
  { name: 'transfer coding not a token', input: OK + 'Transfer-Encoding: "chunked"\r\n\r\n', events: [], error: E.INVALID_TRANSFER_ENCODING },
  { name: 'chunk size not hex', input: CHUNKED + 'zz\r\n', events: [CHUNKED_HEAD], error: E.INVALID_CHUNK_SIZE },
  { name: 'chunk size with 0x prefix', input: CHUNKED + '0x5\r\nhello\r\n', events: [CHUNKED_HEAD], error: E.INVALID_CHUNK_SIZE },
  { name: 'negative chunk size', input: CHUNKED + '-1\r\n', events: [CHUNKED_HEAD], error: E.INVALID_CHUNK_SIZE },
  { name: 'chunk size of 17 digits', input: CHUNKED + '00000000000000001\r\nx\r\n', events: [CHUNKED_HEAD], error: E.INVALID_CHUNK_SIZE },
  { name: 'chunk size of 2^53', input: CHUNKED + '20000000000000\r\n', events: [CHUNKED_HEAD], error: E.INVALID_CHUNK_SIZE },
  { name: 'empty chunk size line', input: CHUNKED + '\r\n', events: [CHUNKED_HEAD], error: E.INVALID_CHUNK_SIZE },
  { name: 'whitespace after chunk size without extension', input: CHUNKED + '5 \r\nhello\r\n', events: [CHUNKED_HEAD], error: E.INVALID_CHUNK_SIZE },
  { name: 'bare LF after chunk size', input: CHUNKED + '5\nhello\r\n', events: [CHUNKED_HEAD], error: E.BARE_LF },
  { name: 'bare LF ends a chunk extension', input: CHUNKED + '5;a=b\nhello\r\n', events: [CHUNKED_HEAD], error: E.BARE_LF },
  { name: 'CR without LF after chunk size', input: CHUNKED + '5\rhello\r\n', events: [CHUNKED_HEAD], error: E.BARE_CR },
  { name: 'control byte in a chunk extension', input: CHUNKED + '5;a\x01\r\nhello\r\n', events: [CHUNKED_HEAD], error: E.INVALID_CHUNK_EXTENSION },
  {
    name: 'chunk extension over the bound',
    input: CHUNKED + '5;' + 'e'.repeat(4097) + '\r\nhello\r\n',
    events: [CHUNKED_HEAD],
    error: E.CHUNK_EXTENSION_TOO_LARGE,
  },
  {
    name: 'missing CRLF after chunk data',
    input: CHUNKED + '5\r\nhelloX\r\n0\r\n\r\n',
    events: [CHUNKED_HEAD, ['body', 'hello']],
    error: E.MISSING_CHUNK_CRLF,
  },
  {
    name: 'CR without LF after chunk data',
    input: CHUNKED + '5\r\nhello\rX0\r\n\r\n',
    events: [CHUNKED_HEAD, ['body', 'hello']],
    error: E.MISSING_CHUNK_CRLF,
  },
  {
    name: 'bare LF after chunk data',
    input: CHUNKED + '5\r\nhello\n0\r\n\r\n',
    events: [CHUNKED_HEAD, ['body', 'hello']],
    error: E.BARE_LF,
  },
  {
    name: 'bare LF in the trailer section',
    input: CHUNKED + '0\r\nX: 1\n\r\n',
    events: [CHUNKED_HEAD],
    error: E.BARE_LF,
  },
  { name: 'status code of 4 digits', input: 'HTTP/1.1 2000 OK\r\n\r\n', events: [], error: E.INVALID_STATUS_LINE },
  { name: 'HTTP/2.0', input: 'HTTP/2.0 200 OK\r\n\r\n', events: [], error: E.INVALID_VERSION },
  { name: 'HTTP/1.2', input: 'HTTP/1.2 200 OK\r\n\r\n', events: [], error: E.INVALID_VERSION },
  { name: 'status 099', input: 'HTTP/1.1 099 Low\r\n\r\n', events: [], error: E.INVALID_STATUS },
  { name: 'status 600', input: 'HTTP/1.1 600 High\r\n\r\n', events: [], error: E.INVALID_STATUS },
  { name: 'status with a letter', input: 'HTTP/1.1 2x0 OK\r\n\r\n', events: [], error: E.INVALID_STATUS_LINE },
  { name: 'not HTTP', input: 'ICY 200 OK\r\n\r\n', events: [], error: E.INVALID_STATUS_LINE },
  { name: 'lower-case protocol name', input: 'http/1.1 200 OK\r\n\r\n', events: [], error: E.INVALID_STATUS_LINE },
  { name: 'two spaces before the status', input: 'HTTP/1.1  200 OK\r\n\r\n', events: [], error: E.INVALID_STATUS_LINE },
  { name: 'control byte in the reason', input: 'HTTP/1.1 200 O\x01K\r\n\r\n', events: [], error: E.INVALID_STATUS_LINE },
  { name: 'empty line before the status line', input: '\r\n' + OK + 'Content-Length: 0\r\n\r\n', events: [], error: E.INVALID_STATUS_LINE },
  {
    name: 'more fields than maxHeaders',
    input: OK + 'A: 1\r\nB: 2\r\nC: 3\r\n\r\n',
    options: { maxHeaders: 2 },
    events: [],
    error: E.TOO_MANY_HEADERS,
  },
  {
    name: 'head over maxHeadBytes',
    input: OK + 'X-Long: ' + 'a'.repeat(30) + '\r\n\r\n',
    options: { maxHeadBytes: 40 },
    events: [],
    error: E.HEAD_TOO_LARGE,
  },
  {
    name: 'unterminated line over maxHeadBytes',
    input: OK + 'X-Long: ' + 'a'.repeat(50),
    options: { maxHeadBytes: 40 },
    events: [],
    error: E.HEAD_TOO_LARGE,
  },
  {
    name: 'more trailer fields than maxHeaders',
    input: CHUNKED + '0\r\nA: 1\r\nB: 2\r\n\r\n',
    options: { maxHeaders: 1 },
    events: [CHUNKED_HEAD],
    error: E.TOO_MANY_HEADERS,
  },
  {
    name: 'close before the declared content-length',
    input: OK + 'Content-Length: 10\r\n\r\nhello',
    eof: true,
    events: [['head', 200, 'OK', 1, ['content-length', '10'], 'length', 10, true], ['body', 'hello']],
    error: E.EARLY_CLOSE,
  },
  {
    name: 'close inside a chunk',
    input: CHUNKED + 'a\r\nhello',
    eof: true,
    events: [CHUNKED_HEAD, ['body', 'hello']],
    error: E.EARLY_CLOSE,
  },
  { name: 'close before the last-chunk trailer section ends', input: CHUNKED + '0\r\n', eof: true, events: [CHUNKED_HEAD], error: E.EARLY_CLOSE },
  { name: 'close inside the head', input: OK + 'Content-Le', eof: true, events: [], error: E.EARLY_CLOSE },
  { name: 'close after an interim response', input: 'HTTP/1.1 100 Continue\r\n\r\n', eof: true, events: [['info', 100, []]], error: E.EARLY_CLOSE },
  { name: 'close before any byte', input: '', eof: true, events: [], error: E.CLOSED_BEFORE_RESPONSE },
];

function expectOutcome(row: Row, outcome: Outcome): void {
  expect(outcome.events).toEqual(row.events);
  expect(outcome.rc).toBe(row.error ?? 0);
  expect(outcome.leftover).toBe(row.rest?.length ?? 0);
}

describe('ResponseParser', () => {
  it('has at least 30 table rows', () => {
    expect(rows.length).toBeGreaterThanOrEqual(30);
  });

  describe.each(rows)('$name', (row) => {
    const data = Buffer.from(row.input + (row.rest ?? ''), 'latin1');

    it('fed whole', () => {
      expectOutcome(row, run(row, data.length === 0 ? [] : [data]));
    });

    it('fed one byte at a time', () => {
      const pieces: Buffer[] = [];
      for (let i = 0; i < data.length; i++) pieces.push(data.subarray(i, i + 1));
      expectOutcome(row, run(row, pieces));
    });

    it('split in two at every offset', () => {
      // Long rows are also covered byte by byte; a stride keeps their split runs short.
      const step = data.length > 1024 ? 97 : 1;
      for (let k = 1; k < data.length; k += step) {
        expectOutcome(row, run(row, [data.subarray(0, k), data.subarray(k)]));
      }
    });
  });
});

describe('ResponseParser across messages', () => {
  it('passes views of the input as body chunks, the input itself when it is all body', () => {
    const chunks: Buffer[] = [];
    const rec = new Recorder();
    rec.onBody = (chunk) => void chunks.push(chunk);
    const parser = new ResponseParser(rec);
    parser.reset(false);
    const first = Buffer.from(OK + 'Content-Length: 8\r\n\r\nabcd', 'latin1');
    const second = Buffer.from('efgh', 'latin1');
    expect(parser.execute(first)).toBe(0);
    expect(parser.execute(second)).toBe(0);
    expect(chunks).toHaveLength(2);
    expect(chunks[0]!.buffer).toBe(first.buffer);
    expect(chunks[0]!.byteOffset).toBe(first.byteOffset + first.length - 4);
    expect(chunks[1]).toBe(second);
  });

  it('parses one response after another on the same connection', () => {
    const rec = new Recorder();
    const parser = new ResponseParser(rec);
    parser.reset(false);
    expect(parser.execute(Buffer.from(CHUNKED + '1\r\na\r\n0\r\n\r\n', 'latin1'))).toBe(0);
    parser.reset(true);
    expect(parser.execute(Buffer.from(OK + 'Content-Length: 7\r\n\r\n', 'latin1'))).toBe(0);
    parser.reset(false);
    expect(parser.execute(Buffer.from(OK + 'Content-Length: 1\r\n\r\nb', 'latin1'))).toBe(0);
    expect(rec.events).toEqual([
      CHUNKED_HEAD,
      ['body', 'a'],
      ['complete', true],
      ['head', 200, 'OK', 1, ['content-length', '7'], 'none', 7, true],
      ['complete', true],
      ['head', 200, 'OK', 1, ['content-length', '1'], 'length', 1, true],
      ['body', 'b'],
      ['complete', true],
    ]);
    expect(parser.finish()).toBe(0);
  });

  it('refuses data before reset and after a completed message', () => {
    const parser = new ResponseParser(new Recorder());
    expect(parser.execute(Buffer.from('H'))).toBe(E.UNEXPECTED_DATA);
    parser.reset(false);
    expect(parser.execute(Buffer.from(OK + 'Content-Length: 0\r\n\r\n'))).toBe(0);
    expect(parser.execute(Buffer.alloc(0))).toBe(0);
    expect(parser.execute(Buffer.from('\r\n'))).toBe(E.UNEXPECTED_DATA);
    expect(parser.errorReason).toBe('data received while no response was expected');
  });

  it('stays failed until reset', () => {
    const rec = new Recorder();
    const parser = new ResponseParser(rec);
    parser.reset(false);
    expect(parser.execute(Buffer.from('HTTP/1.1 200 OK\n'))).toBe(E.BARE_LF);
    expect(parser.execute(Buffer.from(OK + 'Content-Length: 0\r\n\r\n'))).toBe(E.BARE_LF);
    expect(parser.finish()).toBe(E.BARE_LF);
    expect(rec.events).toEqual([]);
    parser.reset(false);
    expect(parser.errorCode).toBe(0);
    expect(parser.execute(Buffer.from(OK + 'Content-Length: 0\r\n\r\n'))).toBe(0);
    expect(rec.events).toHaveLength(2);
  });

  it('tells when a head held bytes beyond ASCII', () => {
    const parser = new ResponseParser(new Recorder());
    parser.reset(false);
    expect(parser.execute(Buffer.from(OK + 'Content-Length: 0\r\n\r\n'))).toBe(0);
    expect(parser.headHasNonAscii).toBe(false);
    parser.reset(false);
    expect(parser.execute(Buffer.from(OK + 'Content-Disposition: attachment; filename="café"\r\nContent-Length: 0\r\n\r\n'))).toBe(0);
    expect(parser.headHasNonAscii).toBe(true);
  });

  it('accepts a head of exactly maxHeadBytes', () => {
    const head = OK + 'Content-Length: 0\r\n\r\n';
    const rec = new Recorder();
    const exact = new ResponseParser(rec, { maxHeadBytes: head.length });
    exact.reset(false);
    expect(exact.execute(Buffer.from(head))).toBe(0);
    const over = new ResponseParser(rec, { maxHeadBytes: head.length - 1 });
    over.reset(false);
    expect(over.execute(Buffer.from(head))).toBe(E.HEAD_TOO_LARGE);
  });
});

describe('a peer that does not speak HTTP', () => {
  it('is refused from its first bytes, before any empty line', () => {
    const events: string[] = [];
    const handler = {
      onResponseHead: () => events.push('head'),
      onInformational: () => events.push('1xx'),
      onBody: () => events.push('body'),
      onTrailers: () => events.push('trailers'),
      onMessageComplete: () => events.push('complete'),
    };
    const p = new ResponseParser(handler);
    p.reset(false);
    expect(p.execute(Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'))).toBeLessThan(0);
    expect(p.errorReason).toBe('invalid status line');
    const q = new ResponseParser(handler);
    q.reset(false);
    expect(q.execute(Buffer.from('HT'))).toBe(0);
    expect(q.execute(Buffer.from('TX/1.1 200 OK\r\n'))).toBeLessThan(0);
    const r = new ResponseParser(handler);
    r.reset(false);
    expect(r.execute(Buffer.from('HTTP/1.1 200 OK\r\ncontent-len'))).toBe(0);
    expect(events).toEqual([]);
  });
});
