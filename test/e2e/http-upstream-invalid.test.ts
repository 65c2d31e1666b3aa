/**
 * An upstream that answers with broken HTTP: each invalid response becomes a 502 from the proxy (or an
 * aborted downstream connection when the response had already started), and the upstream connection
 * that carried it is never reused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { freePorts } from '../helpers/ports.js';
import { startPillion, type PillionProcess } from '../helpers/pillion.js';
import { startRawUpstream, type RawUpstream } from '../helpers/raw.js';
import { simpleConfig } from '../helpers/configs.js';

// Path → the raw bytes the upstream answers with. `close` ends the connection after writing.
const RESPONSES: Record<string, { bytes: string; close?: boolean }> = {
  '/ok': { bytes: 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok' },
  '/dup-cl': { bytes: 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok!' },
  '/cl-te': { bytes: 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n' },
  '/bad-chunk': { bytes: 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n' },
  '/bare-lf': { bytes: 'HTTP/1.1 200 OK\ncontent-length: 2\n\nok' },
  '/bad-status': { bytes: 'HTTP/1.1 2OO OK\r\ncontent-length: 2\r\n\r\nok' },
  '/obs-fold': { bytes: 'HTTP/1.1 200 OK\r\nx-a: b\r\n c\r\ncontent-length: 2\r\n\r\nok' },
  '/garbage': { bytes: 'SSH-2.0-OpenSSH_9.2\r\n' },
  '/reset-before-head': { bytes: '', close: true },
  '/early-close-head': { bytes: 'HTTP/1.1 200 OK\r\ncontent-le', close: true },
  '/early-close-body': { bytes: 'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part', close: true },
  '/early-close-chunked': { bytes: 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n', close: true },
  '/extra-bytes': { bytes: 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA' },
  '/close-delimited': { bytes: 'HTTP/1.1 200 OK\r\n\r\nuntil close', close: true },
};

let pillion: PillionProcess;
let upstream: RawUpstream;
let base: string;

beforeAll(async () => {
  const [up, listen, admin] = await freePorts(3);
  upstream = await startRawUpstream(up!, (head, socket) => {
    const path = head.split(' ')[1]!;
    const r = RESPONSES[path] ?? RESPONSES['/ok']!;
    if (r.close) socket.end(r.bytes);
    else socket.write(r.bytes);
  });
  pillion = await startPillion(simpleConfig({ listen: listen!, admin: admin!, upstreams: [up!] }));
  base = `http://127.0.0.1:${listen}`;
});

afterAll(async () => {
  await pillion?.stop();
  await upstream?.close();
});

async function fetchStatus(path: string): Promise<{ status: number; body: string } | 'aborted'> {
  try {
    const r = await request(`${base}${path}`);
    return { status: r.statusCode, body: await r.body.text() };
  } catch {
    return 'aborted';
  }
}

describe('invalid upstream responses', () => {
  it.each(['/dup-cl', '/cl-te', '/bad-chunk', '/bare-lf', '/bad-status', '/obs-fold', '/garbage', '/reset-before-head', '/early-close-head'])(
    '%s gets 502 from the proxy and the connection is not reused',
    async (path) => {
      // Warm one pooled connection, then break it.
      expect(await fetchStatus('/ok')).toMatchObject({ status: 200 });
      const r = await fetchStatus(path);
      if (path === '/bad-chunk') {
        // The head was valid, so the response may already have started when the chunk size turns bad.
        expect(r === 'aborted' || (r.status === 502)).toBe(true);
      } else {
        expect(r).not.toBe('aborted');
        if (r === 'aborted') return;
        expect(r.status).toBe(502);
        expect(r.body).toMatch(/^upstream reset or invalid response/);
      }
      const conns = upstream.connections;
      expect(await fetchStatus('/ok')).toMatchObject({ status: 200, body: 'ok' });
      // The broken connection was dropped: the next request needed a new one.
      expect(upstream.connections).toBe(conns + 1);
    },
  );

  it.each(['/early-close-body', '/early-close-chunked'])('%s aborts the client rather than presenting a truncated body', async (path) => {
    expect(await fetchStatus(path)).toBe('aborted');
    expect(await fetchStatus('/ok')).toMatchObject({ status: 200 });
  });

  it('never reuses a connection that sent bytes past the response', async () => {
    expect(await fetchStatus('/extra-bytes')).toEqual({ status: 200, body: 'ok' });
    const conns = upstream.connections;
    expect(await fetchStatus('/ok')).toMatchObject({ status: 200 });
    expect(upstream.connections).toBe(conns + 1);
  });

  it('relays a close-delimited body in full', async () => {
    expect(await fetchStatus('/close-delimited')).toEqual({ status: 200, body: 'until close' });
  });

  it('counts upstream resets in metrics', async () => {
    const text = await pillion.metrics();
    expect(text).toMatch(/pillion_upstream_resets_total\{cluster="c"\} [1-9]/);
  });
});
