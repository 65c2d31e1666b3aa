/**
 * Slow clients on the http1-strict codec get their bodies byte-exact while other responses are relayed
 * at the same time. Relayed chunks are views of the worker's shared upstream read buffer; a plain
 * socket that cannot take a chunk at once keeps the memory it was given, so the codec must hand it
 * copies (a TLS socket encrypts before write returns and needs none).
 */
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simpleConfig } from '../helpers/configs.js';
import { startPillion, type PillionProcess } from '../helpers/pillion.js';
import { freePorts } from '../helpers/ports.js';

const SIZE = 8 * 1024 * 1024;

/** The body for `seed`: bytes that differ between seeds at every offset. */
function body(seed: number): Buffer {
  const b = Buffer.allocUnsafe(SIZE);
  for (let i = 0; i < SIZE; i++) b[i] = (i * 31 + seed * 101 + (i >> 13)) & 0xff;
  return b;
}

let pillion: PillionProcess;
let upstream: Server;
let port = 0;
const bodies = new Map<number, Buffer>();

beforeAll(async () => {
  const [up, listen, admin] = await freePorts(3);
  for (let seed = 1; seed <= 4; seed++) bodies.set(seed, body(seed));
  upstream = createServer((req, res) => {
    const seed = Number(new URL(req.url!, 'http://x').searchParams.get('seed'));
    const b = bodies.get(seed)!;
    if (req.url!.includes('chunked')) {
      // Chunked, in pieces, so the relay writes many chunks rather than one.
      let at = 0;
      const pump = () => {
        while (at < b.length) {
          const piece = b.subarray(at, at + 65_536);
          at += piece.length;
          if (!res.write(piece)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    } else {
      res.setHeader('content-length', b.length);
      res.end(b);
    }
  });
  await new Promise<void>((r) => upstream.listen(up, '127.0.0.1', () => r()));
  pillion = await startPillion(simpleConfig({ listen: listen!, admin: admin!, upstreams: [up!], listener: { codec: 'http1-strict' } }));
  port = listen!;
});

afterAll(async () => {
  await pillion?.stop();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
});

/** GETs `path` on a raw socket that reads nothing for `stallMs`, then everything; resolves with the body's sha256. */
function slowGet(path: string, stallMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    s.pause();
    s.write(`GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`);
    setTimeout(() => s.resume(), stallMs);
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('error', reject);
    s.on('end', () => {
      const all = Buffer.concat(parts);
      const headEnd = all.indexOf('\r\n\r\n');
      const head = all.subarray(0, headEnd).toString('latin1');
      let rest: Buffer = all.subarray(headEnd + 4);
      if (/transfer-encoding: chunked/i.test(head)) rest = dechunk(rest);
      resolve(createHash('sha256').update(rest).digest('hex'));
    });
  });
}

function dechunk(b: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', at);
    const n = parseInt(b.subarray(at, eol).toString('latin1'), 16);
    if (n === 0) return Buffer.concat(out);
    out.push(b.subarray(eol + 2, eol + 2 + n));
    at = eol + 2 + n + 2;
  }
}

const sha = (seed: number) => createHash('sha256').update(bodies.get(seed)!).digest('hex');

describe('http1-strict with slow clients', () => {
  it.each(['length', 'chunked'])('relays four concurrent %s bodies byte-exact to clients that stall before reading', async (kind) => {
    const got = await Promise.all([1, 2, 3, 4].map((seed) => slowGet(`/b?seed=${seed}&${kind}`, 100 + seed * 50)));
    expect(got).toEqual([1, 2, 3, 4].map(sha));
  });
});
