import { createServer, type AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { CLIENT_HELLO, MAX_CLIENT_HELLO_BYTES, NEED_MORE, NOT_TLS, readClientHello, serverNameMatches } from '../src/tls/index.js';

/** The first bytes node:tls sends as a client: a real ClientHello (the handshake is never finished). */
async function clientHello(servername?: string): Promise<Buffer> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const got = new Promise<Buffer>((resolve) => {
    server.on('connection', (s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        // A record header says how long the record is: wait for all of it.
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          resolve(buf);
          s.destroy();
        }
      });
    });
  });
  const c = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false });
  c.on('error', () => {});
  const bytes = await got;
  c.destroy();
  server.close();
  return bytes;
}

/** Re-frames one record's handshake bytes into records of `size` bytes each. */
function fragment(record: Buffer, size: number): Buffer {
  const body = record.subarray(5, 5 + record.readUInt16BE(3));
  const out: Buffer[] = [];
  for (let at = 0; at < body.length; at += size) {
    const part = body.subarray(at, at + size);
    const head = Buffer.from([22, 3, 1, 0, 0]);
    head.writeUInt16BE(part.length, 3);
    out.push(head, part);
  }
  return Buffer.concat(out);
}

describe('readClientHello', () => {
  it('reads the SNI host name of a real ClientHello, lower-cased', async () => {
    const hello = await clientHello('API.Example.com');
    expect(readClientHello(hello)).toEqual({ kind: CLIENT_HELLO, serverName: 'api.example.com' });
  });

  it("gives '' for a ClientHello without SNI (an IP address is never sent as one)", async () => {
    expect(readClientHello(await clientHello())).toEqual({ kind: CLIENT_HELLO, serverName: '' });
  });

  it('asks for more at every prefix shorter than the whole hello', async () => {
    const hello = await clientHello('svc.internal');
    for (let n = 0; n < hello.length; n++) expect(readClientHello(hello.subarray(0, n)).kind, `prefix ${n}`).toBe(NEED_MORE);
    expect(readClientHello(hello)).toEqual({ kind: CLIENT_HELLO, serverName: 'svc.internal' });
  });

  it('reads a hello split over several records, and bytes after it do not matter', async () => {
    const hello = await clientHello('split.example');
    for (const size of [1, 7, 64, 200]) {
      const framed = fragment(hello, size);
      expect(readClientHello(framed), `records of ${size}`).toEqual({ kind: CLIENT_HELLO, serverName: 'split.example' });
      expect(readClientHello(framed.subarray(0, framed.length - 1)).kind).toBe(NEED_MORE);
      expect(readClientHello(Buffer.concat([framed, Buffer.from('trailing')])).kind).toBe(CLIENT_HELLO);
    }
  });

  it('refuses what is not a TLS ClientHello', () => {
    expect(readClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n'))).toEqual({ kind: NOT_TLS, reason: 'not a TLS handshake record' });
    expect(readClientHello(Buffer.from([22, 2, 0, 0, 4, 1, 0, 0, 0]))).toEqual({ kind: NOT_TLS, reason: 'not a TLS record version' });
    expect(readClientHello(Buffer.from([22, 3, 1, 0, 4, 2, 0, 0, 0]))).toEqual({ kind: NOT_TLS, reason: 'first handshake message is not a ClientHello' });
    expect(readClientHello(Buffer.from([22, 3, 1, 0, 0]))).toEqual({ kind: NOT_TLS, reason: 'empty handshake record' });
    // A hello that claims to be longer than anything it may buffer.
    expect(readClientHello(Buffer.from([22, 3, 1, 0, 4, 1, 0x10, 0, 0]))).toEqual({ kind: NOT_TLS, reason: 'client hello too large' });
  });

  it('refuses a server name that is not a host name', async () => {
    const hello = Buffer.from(await clientHello('abc.example'));
    const at = hello.indexOf('abc.example');
    hello[at] = 0x00;
    expect(readClientHello(hello)).toEqual({ kind: NOT_TLS, reason: 'server name is not a host name' });
  });

  it('stops buffering at the limit', () => {
    // Records that never complete a message: the limit ends the wait.
    const records: Buffer[] = [Buffer.from([22, 3, 1, 0, 4, 1, 0x00, 0xff, 0xff])];
    let size = records[0]!.length;
    while (size < MAX_CLIENT_HELLO_BYTES) {
      const r = Buffer.alloc(5 + 1000, 0);
      r[0] = 22;
      r[1] = 3;
      r.writeUInt16BE(1000, 3);
      records.push(r);
      size += r.length;
    }
    expect(readClientHello(Buffer.concat(records)).kind).toBe(NOT_TLS);
  });
});

describe('serverNameMatches', () => {
  it.each([
    ['api.example.com', 'api.example.com', true],
    ['API.example.com', 'api.example.com', true],
    ['api.example.com', 'www.example.com', false],
    ['*.example.com', 'api.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'badexample.com', false],
    ['*.example.com', '', false],
  ])('%s against %s: %s', (pattern, name, expected) => {
    expect(serverNameMatches(pattern, name)).toBe(expected);
  });
});
