// TLS from the client's side: what a peer negotiates, and the new-connection handshake rate.
// autocannon runs the keep-alive TLS load (an https URL); it cannot run the handshake load,
// because with `reconnectRate` it closes the connection before counting the response.
import tls from 'node:tls';
import { LatencyHistogram } from './latency-histogram.js';

const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n');
const TIMEOUT_MS = 10_000;

/**
 * @typedef {object} TlsFacts  one handshake with a peer, as the client saw it
 * @property {string | null} protocol   e.g. TLSv1.3
 * @property {string | null} cipher     IANA name, e.g. TLS_AES_256_GCM_SHA384
 * @property {string | null} group      key exchange, e.g. X25519
 * @property {string | null} fingerprint SHA-256 of the certificate the peer served
 * @property {boolean} verified         it chains to the bench CA and names 127.0.0.1
 */

/**
 * One TLS connection to `url` (no request): the negotiated protocol, cipher and key exchange, and
 * the certificate served, checked against `ca`.
 * @param {string} url
 * @param {string} ca
 * @returns {Promise<TlsFacts>}
 */
export function tlsFacts(url, ca) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: hostname, port: Number(port), ca, rejectUnauthorized: false });
    s.setTimeout(TIMEOUT_MS, () => s.destroy(new Error(`no TLS handshake with ${url} in ${TIMEOUT_MS} ms`)));
    s.once('error', reject);
    s.once('secureConnect', () => {
      const cipher = s.getCipher();
      const key = s.getEphemeralKeyInfo();
      resolve({
        protocol: s.getProtocol() ?? null,
        cipher: cipher?.standardName ?? cipher?.name ?? null,
        group: key && 'name' in key && typeof key.name === 'string' ? key.name : null,
        fingerprint: s.getPeerCertificate()?.fingerprint256 ?? null,
        verified: s.authorized,
      });
      s.end();
    });
  });
}

/**
 * Whether `text` holds a whole HTTP response (head and, by Content-Length or chunked framing, body);
 * with neither framing the response ends when the peer closes. Null: not complete yet.
 * @param {string} text  the bytes so far, latin1
 * @returns {{ status: number } | null}
 */
export function completeResponse(text) {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd === -1) return null;
  const head = text.slice(0, headEnd);
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
  const length = /\r\ncontent-length: *(\d+)/i.exec(head);
  if (length) return text.length - headEnd - 4 >= Number(length[1]) ? { status } : null;
  if (/\r\ntransfer-encoding: *chunked/i.test(head)) return text.endsWith('0\r\n\r\n') ? { status } : null;
  return null;
}

/**
 * `concurrency` loops of: TLS connect (never offering a session, so every handshake is a full
 * one), GET / with `Connection: close`, read the whole response, close; for `seconds`. Like
 * autocannon, the client does not verify the certificate (tlsFacts does, once).
 * @param {string} url   https://host:port
 * @param {number} seconds
 * @param {number} concurrency
 * @returns {Promise<{ count: number, errors: number, resumed: number, seconds: number,
 *                     latency: LatencyHistogram, handshake: LatencyHistogram }>}
 *   count: connections that completed a 2xx exchange; latency: connect to the end of the response;
 *   handshake: connect to `secureConnect`; resumed: handshakes the server resumed (expected 0)
 */
export async function handshakeRate(url, seconds, concurrency) {
  const { hostname, port } = new URL(url);
  const latency = new LatencyHistogram();
  const handshake = new LatencyHistogram();
  let count = 0;
  let errors = 0;
  let resumed = 0;
  const deadline = performance.now() + seconds * 1000;
  const one = () =>
    new Promise((resolve) => {
      const t = performance.now();
      let text = '';
      let done = false;
      const s = tls.connect({ host: hostname, port: Number(port), rejectUnauthorized: false });
      s.setNoDelay(true);
      const timer = setTimeout(() => fail(), TIMEOUT_MS);
      const fail = () => {
        if (!done) {
          done = true;
          errors++;
        }
        clearTimeout(timer);
        s.destroy();
      };
      const settle = (/** @type {number} */ status) => {
        done = true;
        clearTimeout(timer);
        if (status >= 200 && status < 300) {
          latency.record(performance.now() - t);
          count++;
        } else {
          errors++;
        }
        s.end();
      };
      s.setEncoding('latin1');
      s.once('secureConnect', () => {
        handshake.record(performance.now() - t);
        if (s.isSessionReused()) resumed++;
        s.write(REQUEST);
      });
      s.on('data', (/** @type {string} */ d) => {
        if (done) return;
        text += d;
        const r = completeResponse(text);
        if (r) settle(r.status);
      });
      s.once('end', () => {
        // A response without framing ends with the connection.
        if (!done && text.includes('\r\n\r\n')) settle(Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0));
        else if (!done) fail();
      });
      s.on('error', fail);
      s.once('close', () => {
        if (!done) fail();
        resolve(undefined);
      });
    });
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) await one();
    }),
  );
  return { count, errors, resumed, seconds: (performance.now() - t0) / 1000, latency, handshake };
}
