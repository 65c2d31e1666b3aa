/**
 * Request smuggling through the whole proxy: every class of framing ambiguity, each request sent
 * alone and followed in the same write by a pipelined `GET <case>/smuggled`. For every case, on both
 * HTTP/1.1 codecs and with one and two workers:
 *
 * - the upstream (a strict parser, test/helpers/recording-upstream.ts) either never sees the request,
 *   or sees exactly one cleanly re-serialised request carrying exactly the intended body;
 * - nothing after a refused request is ever forwarded (no `/smuggled` after a refusal);
 * - an answer from the proxy to a refused request is a 4xx/5xx with `connection: close`, and the
 *   connection then closes;
 * - http1-strict answers every malformed request, within PROMPT_MS.
 *
 * uWS's own parser drops some malformed requests without a reply (closing the connection at once, or
 * about 10 s later): those cases are listed in UWS_NO_REPLY and, on uws, are only required to forward
 * nothing. uWS also closes a connection on a pipelined request, so on uws the pipelined variant may
 * end without any answer.
 *
 * All cases of one codec/worker combination run at once on their own connections, tagged by path
 * (`/t/<id>/`) and an `x-case` field so the upstream's records can be told apart; the `it`s then
 * judge the recorded outcome of one case each.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedRequest } from '../../helpers/recording-upstream.js';
import {
  COMBOS,
  HEADER_READ_MS,
  PROMPT_MS,
  WINDOW_MS,
  barrier,
  isProxyReply,
  isRelayed,
  pool,
  refusalProblems,
  send,
  show,
  startRig,
  uncleanReasons,
  type Codec,
  type Exchange,
  type Rig,
} from './harness.js';

/** refuse: must never be forwarded. either: refusing or forwarding cleanly are both right. forward: must be forwarded. */
type Expect = 'refuse' | 'either' | 'forward';

interface Case {
  name: string;
  /** The request, before its pipelined follower. `P` is the case's path prefix, `X` its tag field line. */
  raw: (P: string, X: string) => string;
  expect: Expect;
  /** The body a forwarded request must carry (default: none). */
  body?: string;
  /** Method a forwarded request must carry (default: from the request line). */
  method?: string;
  /**
   * Read strictly, the bytes after this request are not a request (they are the body a lenient reader
   * would see): once it is forwarded, what follows must be refused, and the pipelined follower with it.
   */
  garbageAfter?: boolean;
}

const H = 'Host: a\r\n';
const CHUNKED_HELLO = '5\r\nhello\r\n0\r\n\r\n';

/** A POST with the given field lines (after Host and the tag) and body. */
const post = (fields: string, body: string) => (P: string, X: string) => `POST ${P}/first HTTP/1.1\r\n${H}${X}${fields}\r\n${body}`;
/** A chunked POST with the given body (chunk lines and all). */
const chunkedPost = (body: string) => post('Transfer-Encoding: chunked\r\n', body);
/** A chunked POST whose Transfer-Encoding field line is `line` (name, colon and value as given). */
const tePost = (line: string) => post(`${line}\r\n`, CHUNKED_HELLO);

const CASES: Case[] = [
  // ---- well-formed controls: these must go through
  { name: 'control: GET', raw: (P, X) => `GET ${P}/first HTTP/1.1\r\n${H}${X}\r\n`, expect: 'forward' },
  { name: 'control: POST with Content-Length', raw: post('Content-Length: 5\r\n', 'hello'), expect: 'forward', body: 'hello' },
  { name: 'control: POST chunked', raw: chunkedPost('2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n'), expect: 'forward', body: 'hello' },

  // ---- Content-Length
  { name: 'two Content-Length, same value', raw: post('Content-Length: 5\r\nContent-Length: 5\r\n', 'hello'), expect: 'either', body: 'hello' },
  { name: 'two Content-Length, differing (smaller first)', raw: post('Content-Length: 5\r\nContent-Length: 12\r\n', 'hello'), expect: 'refuse' },
  { name: 'two Content-Length, differing (larger first)', raw: post('Content-Length: 12\r\nContent-Length: 5\r\n', 'hello'), expect: 'refuse' },
  { name: 'Content-Length list, same values', raw: post('Content-Length: 5, 5\r\n', 'hello'), expect: 'either', body: 'hello' },
  { name: 'Content-Length list, differing values', raw: post('Content-Length: 5, 12\r\n', 'hello'), expect: 'refuse' },
  { name: 'Content-Length list with an empty member', raw: post('Content-Length: 5,\r\n', 'hello'), expect: 'either', body: 'hello' },
  { name: 'Content-Length with a plus sign', raw: post('Content-Length: +5\r\n', 'hello'), expect: 'refuse' },
  { name: 'Content-Length negative', raw: post('Content-Length: -5\r\n', 'hello'), expect: 'refuse' },
  { name: 'Content-Length in hex', raw: post('Content-Length: 0x5\r\n', 'hello'), expect: 'refuse' },
  { name: 'Content-Length with a space inside', raw: post('Content-Length: 1 2\r\n', 'hello'), expect: 'refuse' },
  { name: 'Content-Length empty', raw: post('Content-Length: \r\n', 'hello'), expect: 'refuse' },
  { name: 'Content-Length beyond 2^64', raw: post('Content-Length: 18446744073709551621\r\n', 'hello'), expect: 'refuse' },

  // ---- Content-Length with Transfer-Encoding
  { name: 'Content-Length then Transfer-Encoding (CL.TE)', raw: post('Content-Length: 6\r\nTransfer-Encoding: chunked\r\n', '0\r\n\r\nX'), expect: 'refuse' },
  { name: 'Transfer-Encoding then Content-Length (TE.CL)', raw: post('Transfer-Encoding: chunked\r\nContent-Length: 3\r\n', '8\r\nSMUGGLED\r\n0\r\n\r\n'), expect: 'refuse' },
  { name: 'Content-Length: 0 with Transfer-Encoding', raw: post('Content-Length: 0\r\nTransfer-Encoding: chunked\r\n', CHUNKED_HELLO), expect: 'refuse' },

  // ---- Transfer-Encoding variants and obfuscations
  { name: 'TE "chunked, identity"', raw: tePost('Transfer-Encoding: chunked, identity'), expect: 'refuse' },
  { name: 'TE "identity, chunked"', raw: tePost('Transfer-Encoding: identity, chunked'), expect: 'either', body: 'hello' },
  { name: 'TE " chunked" (extra leading space)', raw: tePost('Transfer-Encoding:  chunked'), expect: 'either', body: 'hello' },
  { name: 'TE "chunked " (trailing space)', raw: tePost('Transfer-Encoding: chunked '), expect: 'either', body: 'hello' },
  { name: 'TE "chunked\\t" (trailing tab)', raw: tePost('Transfer-Encoding: chunked\t'), expect: 'either', body: 'hello' },
  { name: 'TE "Chunked"', raw: tePost('Transfer-Encoding: Chunked'), expect: 'either', body: 'hello' },
  { name: 'TE "xchunked"', raw: tePost('Transfer-Encoding: xchunked'), expect: 'refuse' },
  { name: 'TE "chunkedx"', raw: tePost('Transfer-Encoding: chunkedx'), expect: 'refuse' },
  { name: 'TE quoted "\\"chunked\\""', raw: tePost('Transfer-Encoding: "chunked"'), expect: 'refuse' },
  { name: 'TE "chunked, chunked"', raw: tePost('Transfer-Encoding: chunked, chunked'), expect: 'refuse' },
  { name: 'two TE fields: chunked, chunked', raw: post('Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', CHUNKED_HELLO), expect: 'refuse' },
  { name: 'two TE fields: chunked, identity', raw: post('Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n', CHUNKED_HELLO), expect: 'refuse' },
  { name: 'two TE fields: gzip, chunked', raw: post('Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n', CHUNKED_HELLO), expect: 'refuse' },
  { name: 'TE with a vertical tab before chunked', raw: tePost('Transfer-Encoding: \x0bchunked'), expect: 'refuse' },
  { name: 'TE with a vertical tab after chunked', raw: tePost('Transfer-Encoding: chunked\x0b'), expect: 'refuse' },
  { name: 'TE with a form feed after chunked', raw: tePost('Transfer-Encoding: chunked\x0c'), expect: 'refuse' },
  { name: 'TE with NUL after chunked', raw: tePost('Transfer-Encoding: chunked\x00'), expect: 'refuse' },
  { name: 'TE with 0x80 after chunked', raw: tePost('Transfer-Encoding: chunked\x80'), expect: 'refuse' },
  { name: 'TE name with a trailing vertical tab', raw: tePost('Transfer-Encoding\x0b: chunked'), expect: 'refuse' },
  // `_` is a tchar, so this is a body-less POST with an unknown field, then garbage. Forwarded as is,
  // servers that map `_` to `-` (CGI-style) would read it as Transfer-Encoding: uncleanReasons objects.
  { name: 'TE name misspelt "Transfer_Encoding"', raw: tePost('Transfer_Encoding: chunked'), expect: 'either', garbageAfter: true },

  // ---- whitespace and control characters in field names and values
  { name: 'space before colon (Transfer-Encoding)', raw: tePost('Transfer-Encoding : chunked'), expect: 'refuse' },
  { name: 'tab before colon (Transfer-Encoding)', raw: tePost('Transfer-Encoding\t: chunked'), expect: 'refuse' },
  { name: 'space before colon (Content-Length)', raw: post('Content-Length : 5\r\n', 'hello'), expect: 'refuse' },
  { name: 'space before colon (Host)', raw: (P, X) => `GET ${P}/first HTTP/1.1\r\nHost : a\r\n${X}\r\n`, expect: 'refuse' },
  { name: 'NUL in a field name', raw: post('X-A\x00b: c\r\nContent-Length: 5\r\n', 'hello'), expect: 'refuse' },
  { name: 'NUL in a field value', raw: post('X-A: b\x00c\r\nContent-Length: 5\r\n', 'hello'), expect: 'refuse' },
  { name: 'CR alone in a field value', raw: post('X-A: b\rc\r\nContent-Length: 5\r\n', 'hello'), expect: 'refuse' },
  { name: 'CR alone ending a field line before Content-Length', raw: post('X-A: b\rContent-Length: 5\r\n', 'hello'), expect: 'refuse' },
  { name: 'DEL in a field value', raw: post('X-A: b\x7fc\r\nContent-Length: 5\r\n', 'hello'), expect: 'refuse' },
  { name: 'DEL in a field name', raw: post('X-A\x7f: c\r\nContent-Length: 5\r\n', 'hello'), expect: 'refuse' },
  { name: 'empty field name', raw: post(': c\r\nContent-Length: 5\r\n', 'hello'), expect: 'refuse' },
  { name: 'field line without a colon', raw: post('X-A b\r\nContent-Length: 5\r\n', 'hello'), expect: 'refuse' },

  // ---- obs-fold
  { name: 'obs-fold continuing a field', raw: post('X-A: b\r\n c\r\nContent-Length: 5\r\n', 'hello'), expect: 'either', body: 'hello' },
  { name: 'obs-fold continuing Transfer-Encoding', raw: post('Transfer-Encoding: identity\r\n chunked\r\n', CHUNKED_HELLO), expect: 'refuse' },
  { name: 'obs-fold hiding Transfer-Encoding behind Content-Length', raw: post('Content-Length: 5\r\n Transfer-Encoding: chunked\r\n', CHUNKED_HELLO), expect: 'refuse' },
  { name: 'first field line starts with whitespace', raw: (P, X) => `POST ${P}/first HTTP/1.1\r\n Transfer-Encoding: chunked\r\n${H}${X}Content-Length: 5\r\n\r\nhello`, expect: 'refuse' },

  // ---- line endings
  { name: 'bare LF line endings', raw: (P, X) => `POST ${P}/first HTTP/1.1\n${H.replace('\r', '')}${X.replace('\r', '')}Content-Length: 5\n\nhello`, expect: 'either', body: 'hello' },
  { name: 'bare LF ending one field line', raw: post('X-A: b\nContent-Length: 5\r\n', 'hello'), expect: 'either', body: 'hello' },
  { name: 'bare CR line endings', raw: (P, X) => `POST ${P}/first HTTP/1.1\r${H.replace('\n', '')}${X.replace('\n', '')}Content-Length: 5\r\rhello`, expect: 'refuse' },
  { name: 'bare CR ending the request line', raw: (P, X) => `POST ${P}/first HTTP/1.1\r${H}${X}Content-Length: 5\r\n\r\nhello`, expect: 'refuse' },
  { name: 'LF LF ending the head of a chunked request', raw: (P, X) => `POST ${P}/first HTTP/1.1\r\n${H}${X}Transfer-Encoding: chunked\n\n${CHUNKED_HELLO}`, expect: 'either', body: 'hello' },

  // ---- chunk sizes
  { name: 'chunk size negative', raw: chunkedPost('-5\r\nhello\r\n0\r\n\r\n'), expect: 'refuse' },
  { name: 'chunk size hex overflow ffffffffffffffffff', raw: chunkedPost('ffffffffffffffffff\r\nhello\r\n0\r\n\r\n'), expect: 'refuse' },
  { name: 'chunk size overflowing 64 bits to 5', raw: chunkedPost('10000000000000005\r\nhello\r\n0\r\n\r\n'), expect: 'refuse' },
  { name: 'chunk size "0x5"', raw: chunkedPost('0x5\r\nhello\r\n0\r\n\r\n'), expect: 'refuse' },
  { name: 'chunk size with a plus sign', raw: chunkedPost('+5\r\nhello\r\n0\r\n\r\n'), expect: 'refuse' },
  { name: 'chunk size with a leading space', raw: chunkedPost(' 5\r\nhello\r\n0\r\n\r\n'), expect: 'refuse' },
  { name: 'chunk size with a trailing space', raw: chunkedPost('5 \r\nhello\r\n0\r\n\r\n'), expect: 'either', body: 'hello' },
  { name: 'chunk size with a space inside', raw: chunkedPost('1 0\r\nhello\r\n0\r\n\r\n'), expect: 'refuse' },
  { name: 'chunk size not hex', raw: chunkedPost('zz\r\nhello\r\n0\r\n\r\n'), expect: 'refuse' },
  { name: 'chunk size empty', raw: chunkedPost('\r\nhello\r\n0\r\n\r\n'), expect: 'refuse' },
  { name: 'chunk data longer than its size', raw: chunkedPost('5\r\nhelloXX\r\n0\r\n\r\n'), expect: 'refuse' },
  { name: 'chunk data without CRLF after it', raw: chunkedPost('5\r\nhello0\r\n\r\n'), expect: 'refuse' },
  { name: 'chunk size ended by bare LF', raw: chunkedPost('5\nhello\r\n0\r\n\r\n'), expect: 'either', body: 'hello' },

  // ---- chunk extensions and trailers
  { name: 'chunk extension (valid token)', raw: chunkedPost('5;name=value\r\nhello\r\n0;x\r\n\r\n'), expect: 'forward', body: 'hello' },
  { name: 'chunk extension (valid quoted string)', raw: chunkedPost('5;name="va;lue"\r\nhello\r\n0\r\n\r\n'), expect: 'forward', body: 'hello' },
  { name: 'chunk extension with whitespace around ";"', raw: chunkedPost('5 ; name=value\r\nhello\r\n0\r\n\r\n'), expect: 'either', body: 'hello' },
  { name: 'chunk extension without a name', raw: chunkedPost('5;\r\nhello\r\n0\r\n\r\n'), expect: 'either', body: 'hello' },
  { name: 'chunk extension with a bare LF', raw: chunkedPost('5;a\nb\r\nhello\r\n0\r\n\r\n'), expect: 'refuse' },
  { name: 'chunk extension with a bare CR', raw: chunkedPost('5;a\rb\r\nhello\r\n0\r\n\r\n'), expect: 'refuse' },
  { name: 'chunk extension with NUL', raw: chunkedPost('5;a\x00b\r\nhello\r\n0\r\n\r\n'), expect: 'refuse' },
  { name: 'chunk extension with an unterminated quote', raw: chunkedPost('5;a="b\r\nhello\r\n0\r\n\r\n'), expect: 'refuse' },
  { name: 'chunked with a valid trailer', raw: chunkedPost('5\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n'), expect: 'forward', body: 'hello' },
  { name: 'trailer carrying Content-Length', raw: chunkedPost('5\r\nhello\r\n0\r\nContent-Length: 40\r\n\r\n'), expect: 'either', body: 'hello' },
  { name: 'trailer with obs-fold', raw: chunkedPost('5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n'), expect: 'either', body: 'hello' },

  // ---- HTTP/1.0 with Transfer-Encoding
  { name: 'HTTP/1.0 with Transfer-Encoding: chunked', raw: (P, X) => `POST ${P}/first HTTP/1.0\r\n${H}${X}Transfer-Encoding: chunked\r\n\r\n${CHUNKED_HELLO}`, expect: 'refuse' },
  { name: 'HTTP/1.0 with Transfer-Encoding and Content-Length', raw: (P, X) => `POST ${P}/first HTTP/1.0\r\n${H}${X}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n${CHUNKED_HELLO}`, expect: 'refuse' },

  // ---- Host
  { name: 'missing Host', raw: (P, X) => `GET ${P}/first HTTP/1.1\r\n${X}\r\n`, expect: 'refuse' },
  { name: 'two Host fields', raw: (P, X) => `GET ${P}/first HTTP/1.1\r\nHost: a\r\nHost: b\r\n${X}\r\n`, expect: 'refuse' },
  { name: 'two Host fields, same value', raw: (P, X) => `GET ${P}/first HTTP/1.1\r\nHost: a\r\nHost: a\r\n${X}\r\n`, expect: 'refuse' },
  { name: 'Host with a space inside', raw: (P, X) => `GET ${P}/first HTTP/1.1\r\nHost: a b\r\n${X}\r\n`, expect: 'refuse' },

  // ---- request target and version
  { name: 'absolute-form target', raw: (P, X) => `GET http://a${P}/first HTTP/1.1\r\n${H}${X}\r\n`, expect: 'forward' },
  { name: 'absolute-form target naming another host', raw: (P, X) => `GET http://b${P}/first HTTP/1.1\r\n${H}${X}\r\n`, expect: 'either' },
  { name: 'target with a space inside', raw: (P, X) => `GET ${P}/fi rst HTTP/1.1\r\n${H}${X}\r\n`, expect: 'refuse' },
  // RFC 9112 3: a recipient MAY parse the request line on whitespace-delimited words.
  { name: 'two spaces after the method', raw: (P, X) => `GET  ${P}/first HTTP/1.1\r\n${H}${X}\r\n`, expect: 'either' },
  { name: 'unknown version HTTP/1.2', raw: (P, X) => `GET ${P}/first HTTP/1.2\r\n${H}${X}\r\n`, expect: 'either' },
  { name: 'unknown version HTTP/2.0', raw: (P, X) => `GET ${P}/first HTTP/2.0\r\n${H}${X}\r\n`, expect: 'refuse' },
  { name: 'unknown version HTTP/9.9', raw: (P, X) => `GET ${P}/first HTTP/9.9\r\n${H}${X}\r\n`, expect: 'refuse' },
  { name: 'lower-case version http/1.1', raw: (P, X) => `GET ${P}/first http/1.1\r\n${H}${X}\r\n`, expect: 'refuse' },
  { name: 'no version (HTTP/0.9 style)', raw: (P) => `GET ${P}/first\r\n`, expect: 'refuse' },
];

/**
 * Cases that get no reply at all on the uws codec, sent alone: uWS's own parser drops them before
 * Pillion sees a request (some are valid requests uWS does not support: chunk extensions, absolute-form
 * targets, HTTP/1.2). On uws these are only required to forward nothing. Observed with
 * @trufflesuite/uws-js-unofficial 20.30.0-unofficial.0; whether uWS closes at once or holds the
 * connection is recorded, not asserted.
 */
/**
 * Malformed bytes uWS's own parser accepts and hides from Pillion: it hands over a decoded body (or a
 * trimmed field) that looks valid. Pillion re-frames what it gets, so the upstream still sees one clean
 * request, never the bytes as sent; on uws these cases may be forwarded that way (docs/http1-limits.md).
 * http1-strict refuses them all.
 */
const UWS_LENIENT = new Set<string>([
  'TE with 0x80 after chunked', // uWS trims bytes >= 0x80 at the end of a value ("chunked")
  'empty field name', // uWS drops the line
  'chunk size with a leading space',
  'chunk size empty',
  'chunk data longer than its size', // the extra bytes are dropped
  'chunk data without CRLF after it',
]);

const UWS_NO_REPLY = new Map<string, 'closes' | 'holds'>([
  // uWS closes the connection at once, without a reply:
  ['Content-Length list, same values', 'closes'],
  ['Content-Length list, differing values', 'closes'],
  ['Content-Length list with an empty member', 'closes'],
  ['Content-Length with a plus sign', 'closes'],
  ['Content-Length negative', 'closes'],
  ['Content-Length in hex', 'closes'],
  ['Content-Length with a space inside', 'closes'],
  ['Content-Length beyond 2^64', 'closes'],
  ['Content-Length then Transfer-Encoding (CL.TE)', 'closes'],
  ['Transfer-Encoding then Content-Length (TE.CL)', 'closes'],
  ['Content-Length: 0 with Transfer-Encoding', 'closes'],
  ['chunk size negative', 'closes'],
  ['chunk size hex overflow ffffffffffffffffff', 'closes'],
  ['chunk size overflowing 64 bits to 5', 'closes'],
  ['chunk size "0x5"', 'closes'],
  ['chunk size with a plus sign', 'closes'],
  ['chunk size with a space inside', 'closes'],
  ['chunk size not hex', 'closes'],
  ['chunk extension (valid token)', 'closes'],
  ['chunk extension (valid quoted string)', 'closes'],
  ['chunk extension with an unterminated quote', 'closes'],
  ['missing Host', 'closes'],
  // uWS neither answers nor closes (it drops the connection about 10 s later):
  ['TE with a vertical tab before chunked', 'holds'],
  ['TE with a vertical tab after chunked', 'holds'],
  ['TE with a form feed after chunked', 'holds'],
  ['TE with NUL after chunked', 'holds'],
  ['TE name with a trailing vertical tab', 'holds'],
  ['TE name misspelt "Transfer_Encoding"', 'holds'],
  ['space before colon (Transfer-Encoding)', 'holds'],
  ['tab before colon (Transfer-Encoding)', 'holds'],
  ['space before colon (Content-Length)', 'holds'],
  ['space before colon (Host)', 'holds'],
  ['NUL in a field name', 'holds'],
  ['NUL in a field value', 'holds'],
  ['CR alone in a field value', 'holds'],
  ['CR alone ending a field line before Content-Length', 'holds'],
  ['DEL in a field name', 'holds'],
  ['field line without a colon', 'holds'],
  ['obs-fold continuing a field', 'holds'],
  ['obs-fold continuing Transfer-Encoding', 'holds'],
  ['obs-fold hiding Transfer-Encoding behind Content-Length', 'holds'],
  ['first field line starts with whitespace', 'holds'],
  ['bare LF line endings', 'holds'],
  ['bare LF ending one field line', 'holds'],
  ['bare CR line endings', 'holds'],
  ['bare CR ending the request line', 'holds'],
  ['LF LF ending the head of a chunked request', 'holds'],
  ['chunk extension without a name', 'holds'],
  ['chunk extension with a bare LF', 'holds'],
  ['chunk extension with a bare CR', 'holds'],
  ['chunk extension with NUL', 'holds'],
  ['HTTP/1.0 with Transfer-Encoding: chunked', 'holds'],
  ['HTTP/1.0 with Transfer-Encoding and Content-Length', 'holds'],
  ['absolute-form target', 'holds'],
  ['absolute-form target naming another host', 'holds'],
  ['target with a space inside', 'holds'],
  ['two spaces after the method', 'holds'],
  ['unknown version HTTP/1.2', 'holds'],
  ['unknown version HTTP/2.0', 'holds'],
  ['unknown version HTTP/9.9', 'holds'],
  ['lower-case version http/1.1', 'holds'],
  ['no version (HTTP/0.9 style)', 'holds'],
]);

const sentinel = (P: string, X: string) => `GET ${P}/smuggled HTTP/1.1\r\n${H}${X}\r\n`;

interface Outcome {
  /** What happened, for the summary: refused 400, forwarded, no reply, ... */
  kind: string;
  problems: string[];
  exchange: Exchange;
  upstream: RecordedRequest[];
}

/**
 * alone: the request by itself, which shows the proxy's own verdict (uWS closes a connection whose next
 * request arrives while a response is pending, so on uws a pipelined follower mostly ends in a close).
 * pipelined: followed in the same write by `GET <case>/smuggled`.
 */
type Variant = 'alone' | 'pipelined';
const VARIANTS: Variant[] = ['alone', 'pipelined'];

function judge(c: Case, variant: Variant, codec: Codec, id: string, x: Exchange, rig: Rig, upstreamText: string): Outcome {
  const P = `/t/${id}`;
  const up = rig.upstream;
  const mine = up.requests.filter((r) => r.target.includes(`${P}/`) || up.header(r, 'x-case') === id);
  const problems: string[] = [];
  for (const e of up.errors) if (e.text.includes(`${P}/`) || e.text.includes(`x-case: ${id}\r`)) problems.push(`upstream could not parse what the proxy sent (${e.error}): ${show(e.text)}`);
  if (x.parseError) problems.push(`client could not parse the answer: ${x.parseError}: ${show(x.text)}`);
  const firsts = mine.filter((r) => r.target.endsWith(`${P}/first`));
  const others = mine.filter((r) => !r.target.endsWith(`${P}/first`));
  const r0 = x.responses[0];
  const strict = codec === 'http1-strict';
  // On uws: its parser drops the UWS_NO_REPLY cases silently, and it closes a connection on a
  // pipelined request (so with a follower no answer at all is within its design).
  const noReplyAllowed = !strict && (variant === 'pipelined' || UWS_NO_REPLY.has(c.name));
  const lenient = !strict && UWS_LENIENT.has(c.name);
  const want: Expect = lenient ? 'either' : c.expect;
  let kind: string;

  const checkFirst = () => {
    if (firsts.length !== 1) {
      problems.push(`upstream saw the request ${firsts.length} times`);
      return;
    }
    const f = firsts[0]!;
    const why = uncleanReasons(up, f);
    if (why.length) problems.push(`forwarded request not clean: ${why.join('; ')}: ${show(f.raw)}`);
    const method = c.method ?? c.raw(P, '').split(' ')[0];
    if (f.method !== method) problems.push(`forwarded method ${f.method}, expected ${method}`);
    const body = c.body ?? '';
    if (want !== 'refuse' && !lenient && f.body.toString('latin1') !== body) problems.push(`forwarded body ${show(f.body)}, expected ${show(body)}`);
  };
  const checkOthers = () => {
    for (const o of others) {
      if (variant === 'alone' || o.method !== 'GET' || o.target !== `${P}/smuggled` || o.body.length || uncleanReasons(up, o).length) {
        problems.push(`upstream got an unexpected request: ${show(o.raw)}`);
      }
    }
  };

  if (r0 && isProxyReply(r0) && r0.status >= 400) {
    kind = `refused ${r0.status}`;
    problems.push(...refusalProblems(x));
    if (want === 'forward') problems.push(`refused a valid request: ${show(r0.head + r0.body.toString('latin1'))}`);
    if (firsts.length) problems.push(`upstream saw the refused request: ${show(firsts[0]!.raw)}`);
    for (const o of others) problems.push(`forwarded after a refusal: ${show(o.raw)}`);
    const prompt = c.name === 'no version (HTTP/0.9 style)' ? HEADER_READ_MS + PROMPT_MS : PROMPT_MS;
    if (strict && (x.firstByteMs ?? Infinity) > prompt) problems.push(`refusal took ${x.firstByteMs} ms`);
  } else if (r0 && r0.header('x-recorded-request') !== undefined) {
    kind = 'forwarded';
    if (want === 'refuse') problems.push(`forwarded a request that must be refused, as ${show(firsts[0]?.raw ?? '', 400)}`);
    checkFirst();
    checkOthers();
    if (firsts[0] && r0.header('x-recorded-request') !== String(firsts[0].index)) problems.push('first answer is not the upstream answer to the first request');
    const smuggled = others.find((o) => o.target === `${P}/smuggled`);
    if (c.garbageAfter && smuggled && !lenient) problems.push(`forwarded the follower of bytes that are not a request: ${show(smuggled.raw)}`);
    if (strict && variant === 'pipelined' && !smuggled && !c.garbageAfter) problems.push('the pipelined request after an accepted one was not forwarded');
    // A refusal of whatever came after the forwarded request must look like any other refusal.
    const refusal = x.responses.findIndex((r) => isProxyReply(r));
    if (refusal > 0) problems.push(...refusalProblems({ ...x, responses: x.responses.slice(refusal) }).map((p) => `after the forwarded request: ${p}`));
    if (smuggled) {
      kind = 'forwarded both';
      const r1 = x.responses[1];
      if (strict && r1?.header('x-recorded-request') !== String(smuggled.index)) problems.push(`second answer is not the upstream answer to the pipelined request: ${show(r1?.head ?? 'none')}`);
    }
  } else if (r0 && isRelayed(r0)) {
    kind = 'upstream refused';
    problems.push('the proxy forwarded bytes the upstream could not parse, and relayed its 400');
  } else if (r0) {
    kind = `answered ${r0.status}`;
    problems.push(`unexpected answer (neither the proxy's nor the upstream's): ${show(r0.head)}`);
  } else if (mine.length > 0) {
    // uWS refuses pipelining: a request arriving while the previous response is pending closes the
    // connection, so an accepted request may be forwarded and its answer never delivered.
    kind = 'forwarded, no reply';
    if (!firsts.length) for (const o of others) problems.push(`forwarded although the request before it was not: ${show(o.raw)}`);
    if (!noReplyAllowed) problems.push(`forwarded, but no reply within ${WINDOW_MS} ms`);
    if (want === 'refuse') problems.push(`forwarded a request that must be refused, as ${show(firsts[0]?.raw ?? mine[0]!.raw, 400)}`);
    checkFirst();
    checkOthers();
  } else {
    kind = x.closedByPeer ? 'closed without reply' : 'no reply';
    // The head went up but the request never completed (the upstream must then discard it).
    if (upstreamText.includes(`${P}/`)) kind += ', partial upstream';
    if (!noReplyAllowed) problems.push(`no reply within ${WINDOW_MS} ms${x.closedByPeer ? ' (closed without an answer)' : ''}`);
  }
  return { kind, problems, exchange: x, upstream: mine };
}

describe.each(COMBOS)('request framing: codec $codec, $workers worker(s)', ({ codec, workers }) => {
  let rig: Rig;
  const outcomes = new Map<string, Outcome>();
  let barrierError: string | null = null;

  beforeAll(async () => {
    rig = await startRig(codec, workers);
    const runs = VARIANTS.flatMap((variant) => CASES.map((c, i) => ({ c, variant, id: `${variant[0]}${i}x` })));
    const exchanges = await pool(runs, 256, ({ c, variant, id }) => {
      const X = `x-case: ${id}\r\n`;
      const P = `/t/${id}`;
      const bytes = variant === 'alone' ? c.raw(P, X) : c.raw(P, X) + sentinel(P, X);
      return send(rig.port, [Buffer.from(bytes, 'latin1')], { expectResponses: variant === 'alone' ? 1 : 2 });
    });
    try {
      await barrier(rig);
    } catch (e) {
      barrierError = (e as Error).message;
    }
    const upstreamText = rig.upstream.connections.map((k) => k.raw.toString('latin1')).join('\n');
    runs.forEach(({ c, variant, id }, i) => outcomes.set(`${c.name} [${variant}]`, judge(c, variant, codec, id, exchanges[i]!, rig, upstreamText)));
    const byKind = new Map<string, number>();
    for (const o of outcomes.values()) byKind.set(o.kind, (byKind.get(o.kind) ?? 0) + 1);
    const failing = [...outcomes].filter(([, o]) => o.problems.length > 0);
    console.log(
      `[framing ${codec} x${workers}] ${runs.length} cases: ${[...byKind].map(([k, n]) => `${k}: ${n}`).join(', ')}; failing: ${failing.length}\n` +
        CASES.map((c) => {
          const a = outcomes.get(`${c.name} [alone]`)!;
          const p = outcomes.get(`${c.name} [pipelined]`)!;
          return `  ${a.problems.length ? 'FAIL' : 'ok  '} ${a.kind.padEnd(22)} ${p.problems.length ? 'FAIL' : 'ok  '} ${p.kind.padEnd(22)} ${c.name}`;
        }).join('\n'),
    );
  }, 60_000);

  afterAll(async () => {
    await rig?.stop();
  });

  it.each(VARIANTS.flatMap((v) => CASES.map((c) => `${c.name} [${v}]`)))('%s', (name) => {
    const o = outcomes.get(name);
    expect(o, 'case did not run').toBeDefined();
    expect(o!.problems, `${o!.kind}; client got ${show(o!.exchange.text, 300)}`).toEqual([]);
  });

  it('still serves well-formed requests after the whole batch', () => {
    expect(barrierError).toBeNull();
  });

  it('the upstream never received bytes it could not parse strictly', () => {
    expect(rig.upstream.errors).toEqual([]);
  });
});
