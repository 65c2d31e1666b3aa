// Ports and readiness.
import net from 'node:net';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A port the kernel just handed out on 127.0.0.1. It is free until someone else takes it;
 * the peers bind it a moment later, and a clash shows up as a start-up error.
 * @returns {Promise<number>}
 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Status code of one GET, or null when the connection fails. An https URL is checked against
 * `ca` (the peer must serve a certificate from it for the URL's host); without `ca` any
 * certificate is taken.
 * @param {string} url
 * @param {{ ca?: string }} [options]
 * @returns {Promise<number | null>}
 */
export function getStatus(url, options = {}) {
  const tls = url.startsWith('https:');
  const get = tls ? https.get : http.get;
  const opts = tls ? (options.ca ? { ca: options.ca } : { rejectUnauthorized: false }) : {};
  return new Promise((resolve) => {
    const req = get(url, { agent: false, timeout: 2000, ...opts }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? null));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(null));
  });
}

/**
 * Status code of one GET over cleartext HTTP/2 with prior knowledge (h2c, as h2load speaks it), or null
 * when the connection or the stream fails: for listeners that speak only HTTP/2.
 * @param {string} url an http:// URL
 * @returns {Promise<number | null>}
 */
export function h2Status(url) {
  return new Promise((resolve) => {
    const u = new URL(url);
    const session = http2.connect(u.origin);
    /** @param {number | null} status */
    const done = (status) => {
      clearTimeout(timer);
      session.destroy();
      resolve(status);
    };
    const timer = setTimeout(() => done(null), 2000);
    session.once('error', () => done(null));
    const req = session.request({ ':method': 'GET', ':path': `${u.pathname}${u.search}` });
    /** @type {number | null} */
    let status = null;
    req.once('response', (headers) => {
      status = Number(headers[':status']);
    });
    req.once('error', () => done(null));
    req.resume();
    // A stream reset after the head is no answer either.
    req.once('close', () => done(req.rstCode === http2.constants.NGHTTP2_NO_ERROR ? status : null));
  });
}

/**
 * Polls `url` until it answers 200 (https: with a certificate from `ca`, when given; with `h2`, over
 * cleartext HTTP/2 with prior knowledge).
 * @param {string} url
 * @param {{ timeoutMs?: number, exited?: Promise<unknown>, what?: string, output?: () => string, ca?: string, h2?: boolean }} [options]
 */
export async function waitFor200(url, options = {}) {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  let dead = false;
  options.exited?.then(() => {
    dead = true;
  });
  let last = null;
  while (Date.now() < deadline) {
    if (dead) break;
    last = options.h2 ? await h2Status(url) : await getStatus(url, { ca: options.ca });
    if (last === 200) return;
    await sleep(50);
  }
  const why = dead ? 'exited' : `did not answer 200 on ${url} in time (last: ${last ?? 'no connection'})`;
  const out = options.output?.().trim();
  throw new Error(`${options.what ?? url} ${why}${out ? `:\n${out}` : ''}`);
}
