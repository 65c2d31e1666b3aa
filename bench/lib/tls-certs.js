// The one certificate every TLS peer serves, made once per bench process with the `openssl`
// command (the one nginx and HAProxy link against): a CA and a server certificate signed by it,
// both ECDSA P-256, the server's for 127.0.0.1 and localhost. Written to a temporary folder that is
// removed when the process exits. The test helper test/helpers/certs.ts makes the same kind of
// certificates, but it is TypeScript and its @peculiar/x509 is not a dependency of the bench.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findBinary } from './binaries.js';

/**
 * @typedef {object} BenchCertificates
 * @property {string} dir
 * @property {string} caFile       the CA, PEM: what a client (or Pillion's cluster `tls.ca_file`) trusts
 * @property {string} certFile     the server certificate, PEM
 * @property {string} keyFile      its private key, PEM
 * @property {string} bundleFile   certificate then key in one file (HAProxy's `crt`)
 * @property {string} ca           the CA's PEM text
 * @property {string} fingerprint  SHA-256 fingerprint of the server certificate
 * @property {string} keyType      e.g. `ec prime256v1`
 */

/** Days the certificates are valid: a bench run is far shorter. */
const DAYS = 2;

/**
 * The openssl invocations, in order, run in the output folder.
 * @returns {string[][]}
 */
export function opensslSteps() {
  return [
    ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key'],
    ['req', '-x509', '-new', '-key', 'ca.key', '-subj', '/CN=Pillion Bench CA', '-days', String(DAYS), '-out', 'ca.pem'],
    ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'server.key'],
    ['req', '-new', '-key', 'server.key', '-subj', '/CN=127.0.0.1', '-out', 'server.csr'],
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', String(DAYS), '-extfile', 'server.ext', '-out', 'server.pem'],
  ];
}

/** Extensions of the server certificate (`-extfile`). */
export const SERVER_EXTENSIONS = [
  'subjectAltName=IP:127.0.0.1,DNS:localhost',
  'basicConstraints=critical,CA:FALSE',
  'keyUsage=critical,digitalSignature',
  'extendedKeyUsage=serverAuth',
  '',
].join('\n');

/**
 * Makes the certificates in `dir` with `openssl` (a path to it).
 * @param {string} dir
 * @param {string} openssl
 * @returns {BenchCertificates}
 */
export function makeCertificates(dir, openssl) {
  writeFileSync(path.join(dir, 'server.ext'), SERVER_EXTENSIONS);
  for (const args of opensslSteps()) {
    try {
      execFileSync(openssl, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 15_000 });
    } catch (err) {
      const e = /** @type {{ stderr?: Buffer }} */ (err);
      throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString().trim() || String(err)}`);
    }
  }
  const file = (/** @type {string} */ name) => path.join(dir, name);
  const cert = readFileSync(file('server.pem'), 'utf8');
  const key = readFileSync(file('server.key'), 'utf8');
  writeFileSync(file('server-bundle.pem'), `${cert.trimEnd()}\n${key}`, { mode: 0o600 });
  const x509 = new X509Certificate(cert);
  const details = x509.publicKey.asymmetricKeyDetails;
  return {
    dir,
    caFile: file('ca.pem'),
    certFile: file('server.pem'),
    keyFile: file('server.key'),
    bundleFile: file('server-bundle.pem'),
    ca: readFileSync(file('ca.pem'), 'utf8'),
    fingerprint: x509.fingerprint256,
    keyType: `${x509.publicKey.asymmetricKeyType}${details?.namedCurve ? ` ${details.namedCurve}` : ''}`,
  };
}

/** @type {BenchCertificates | null} */
let made = null;
let hooked = false;

/** Removes the certificates' folder; the next benchCertificates() makes new ones. Runs at exit too. */
export function removeBenchCertificates() {
  if (made) rmSync(made.dir, { recursive: true, force: true });
  made = null;
}

/**
 * The bench's certificates, made on the first call and kept for the process; the folder is removed
 * when it exits. Throws (a peer that needs them is then left out with the reason) when `openssl`
 * is not installed.
 * @returns {BenchCertificates}
 */
export function benchCertificates() {
  if (made) return made;
  const openssl = findBinary('openssl');
  if (!openssl) throw new Error('the TLS scenarios make their certificate with `openssl`, which is not installed (apt-get install openssl)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pillion-bench-tls-'));
  if (!hooked) {
    hooked = true;
    process.once('exit', removeBenchCertificates);
  }
  try {
    made = makeCertificates(dir, openssl);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return made;
}
