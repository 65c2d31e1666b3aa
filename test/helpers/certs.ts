/**
 * Certificates made in the test, so TLS tests need nothing but Node: a CA, a rogue CA nobody trusts,
 * and leaf certificates with any SANs (DNS, IP, SPIFFE-style URIs), validity and usage. Keys are
 * ECDSA P-256 (fast to make). Built with @peculiar/x509 over Node's WebCrypto.
 */
import { KeyObject, webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 24 * 3600 * 1000;

/** A certificate and its private key, PEM. */
export interface Pem {
  cert: string;
  key: string;
}

export interface LeafOptions {
  /** Subject common name; default the first DNS SAN or 'leaf'. */
  cn?: string;
  dns?: string[];
  ips?: string[];
  /** URI SANs, e.g. spiffe://cluster.local/ns/default/sa/web. */
  uris?: string[];
  /** Which CA signs it; default 'ca'. */
  issuer?: 'ca' | 'rogue';
  notBefore?: Date;
  notAfter?: Date;
  /** Extended key usage: server, client or both (default both). */
  usage?: 'server' | 'client' | 'both';
}

export interface TestPki {
  ca: Pem;
  rogue: Pem;
  leaf(o: LeafOptions): Promise<Pem>;
}

let serial = 1;

async function keyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

function keyPem(key: CryptoKey): string {
  return KeyObject.from(key).export({ type: 'pkcs8', format: 'pem' }) as string;
}

async function makeCa(name: string): Promise<{ pem: Pem; cert: x509.X509Certificate; keys: CryptoKeyPair }> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: (serial++).toString(16).padStart(2, '0'),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 365 * DAY),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { pem: { cert: cert.toString('pem'), key: keyPem(keys.privateKey) }, cert, keys };
}

/** A CA, a rogue CA, and a way to issue leaves from either. */
export async function createPki(): Promise<TestPki> {
  const ca = await makeCa('Pillion Test CA');
  const rogue = await makeCa('Rogue CA');
  return {
    ca: ca.pem,
    rogue: rogue.pem,
    async leaf(o: LeafOptions): Promise<Pem> {
      const issuer = o.issuer === 'rogue' ? rogue : ca;
      const keys = await keyPair();
      const names: x509.JsonGeneralName[] = [
        ...(o.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
        ...(o.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
        ...(o.uris ?? []).map((value) => ({ type: 'url' as const, value })),
      ];
      const usage = o.usage ?? 'both';
      const eku = [
        ...(usage !== 'client' ? [x509.ExtendedKeyUsage.serverAuth] : []),
        ...(usage !== 'server' ? [x509.ExtendedKeyUsage.clientAuth] : []),
      ];
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: (serial++).toString(16).padStart(2, '0'),
        subject: `CN=${o.cn ?? o.dns?.[0] ?? 'leaf'}`,
        issuer: issuer.cert.subject,
        notBefore: o.notBefore ?? new Date(Date.now() - DAY),
        notAfter: o.notAfter ?? new Date(Date.now() + 30 * DAY),
        publicKey: keys.publicKey,
        signingKey: issuer.keys.privateKey,
        signingAlgorithm: ALG,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
          new x509.ExtendedKeyUsageExtension(eku, false),
          ...(names.length ? [new x509.SubjectAlternativeNameExtension(names, false)] : []),
          await x509.AuthorityKeyIdentifierExtension.create(issuer.cert, false),
        ],
      });
      return { cert: cert.toString('pem'), key: keyPem(keys.privateKey) };
    },
  };
}

/** Writes `pem` as NAME.pem and NAME.key in `dir`; returns the paths. */
export function writePem(dir: string, name: string, pem: Pem): { cert_file: string; key_file: string } {
  mkdirSync(dir, { recursive: true });
  const cert_file = path.join(dir, `${name}.pem`);
  const key_file = path.join(dir, `${name}.key`);
  writeFileSync(cert_file, pem.cert);
  writeFileSync(key_file, pem.key, { mode: 0o600 });
  return { cert_file, key_file };
}
