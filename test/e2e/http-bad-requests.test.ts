/**
 * Malformed and ambiguous requests, sent as raw bytes. Those uWS hands over get 400 (501 for an
 * unknown transfer coding, 414/431 for limits) from Pillion with the connection closed. Those uWS's
 * own parser refuses never reach Pillion: the client gets no reply at all ('refused by uWS' below).
 * Either way, none of them ever reaches the upstream.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../helpers/ports.js';
import { startPillion, type PillionProcess } from '../helpers/pillion.js';
import { rawRequest, startRawUpstream, type RawUpstream } from '../helpers/raw.js';
import { simpleConfig } from '../helpers/configs.js';

let pillion: PillionProcess;
let upstream: RawUpstream;
let listen: number;

beforeAll(async () => {
  const [up, l, admin] = await freePorts(3);
  listen = l!;
  upstream = await startRawUpstream(up!, (_head, socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
  pillion = await startPillion(simpleConfig({ listen, admin: admin!, upstreams: [up!], listener: { limits: { max_uri_bytes: 1024, max_request_headers_bytes: 4096, max_request_headers_count: 20 } } }));
});

afterAll(async () => {
  await pillion?.stop();
  await upstream?.close();
});

const H = 'Host: a\r\n';
const many = (n: number) => Array.from({ length: n }, (_, i) => `X-H${i}: v\r\n`).join('');

// [case, raw request, expected: a status from Pillion, or 'uws' when uWS refuses it without a reply]
const cases: [string, string, number | 'uws'][] = [
  ['Content-Length with Transfer-Encoding', `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 'uws'],
  ['two differing Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd`, 400],
  ['Content-Length list with differing values', `POST / HTTP/1.1\r\n${H}Content-Length: 3, 4\r\n\r\nabcd`, 'uws'],
  ['Content-Length not plain digits', `POST / HTTP/1.1\r\n${H}Content-Length: +3\r\n\r\nabc`, 'uws'],
  ['unknown transfer coding', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\nabc`, 501],
  ['chunked not the final coding', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\nabc`, 400],
  ['Transfer-Encoding in HTTP/1.0', `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 'uws'],
  ['whitespace before colon', `GET / HTTP/1.1\r\nHost : a\r\n\r\n`, 'uws'],
  ['obs-fold', `GET / HTTP/1.1\r\n${H}X-A: b\r\n c\r\n\r\n`, 'uws'],
  ['bare LF line ends', `GET / HTTP/1.1\nHost: a\n\n`, 'uws'],
  ['bare CR inside a value', `GET / HTTP/1.1\r\n${H}X-A: b\rc\r\n\r\n`, 'uws'],
  ['NUL inside a value', `GET / HTTP/1.1\r\n${H}X-A: b\u0000c\r\n\r\n`, 'uws'],
  ['invalid chunk size', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n`, 'uws'],
  ['missing Host in HTTP/1.1', `GET / HTTP/1.1\r\n\r\n`, 'uws'],
  ['duplicate Host', `GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`, 400],
  ['unknown HTTP version', `GET / HTTP/2.7\r\n${H}\r\n`, 'uws'],
  ['invalid method token', `G(T / HTTP/1.1\r\n${H}\r\n`, 'uws'],
  ['request target too long', `GET /${'a'.repeat(2000)} HTTP/1.1\r\n${H}\r\n`, 414],
  ['header bytes over the limit', `GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(5000)}\r\n\r\n`, 431],
  ['header count over the limit', `GET / HTTP/1.1\r\n${H}${many(25)}\r\n`, 431],
  ['header count over uWS\'s hard limit', `GET / HTTP/1.1\r\n${H}${many(60)}\r\n`, 'uws'],
  ['invalid header name', `GET / HTTP/1.1\r\n${H}X(A): b\r\n\r\n`, 'uws'],
];

describe('malformed requests are refused and never forwarded', () => {
  it.each(cases)('%s', async (_name, raw, expected) => {
    const before = upstream.requests.length;
    if (expected === 'uws') {
      const r = await rawRequest(listen, raw, 400);
      expect(r.text).toBe('');
    } else {
      const r = await rawRequest(listen, raw);
      expect(r.status).toBe(expected);
      expect(r.text).toMatch(/\r\nserver: pillion\r\n/);
      expect(r.text.toLowerCase()).toContain('\r\nconnection: close\r\n');
      expect(r.closedByPeer).toBe(true);
    }
    expect(upstream.requests.length).toBe(before);
  });

  it('still forwards a well-formed request on the same proxy', async () => {
    const r = await rawRequest(listen, `GET /fine HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    expect(r.status).toBe(200);
    expect(upstream.requests.at(-1)).toMatch(/^GET \/fine HTTP\/1\.1\r\n/);
  });

  it('re-serialises a chunked request with exactly one framing header and clean CRLFs', async () => {
    const r = await rawRequest(listen, `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n`);
    expect(r.status).toBe(200);
    const head = upstream.requests.at(-1)!;
    expect(head.match(/transfer-encoding/gi)).toHaveLength(1);
    expect(head).not.toMatch(/content-length/i);
    expect(head.replace(/\r\n/g, '')).not.toMatch(/[\r\n]/);
  });
});
