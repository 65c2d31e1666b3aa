/**
 * The certificates, keys and CA bundles a config names, read and checked here and posted to the
 * workers as PEM text, which build their own secure contexts from it. A file that is missing, does not
 * parse, or a key that does not match its certificate is a config problem with the field's path.
 *
 * The files are watched: a change rebuilds the whole set and, when it checks out, the supervisor posts
 * it as a new snapshot (new handshakes use it; connections stay up). A broken file is refused and the
 * running certificates stay: a rotation that writes a certificate before its key fails once and
 * succeeds when the key follows. Each listener's session ticket keys are made here, so a client that
 * resumes on another worker thread is recognised, and replaced every `session_ticket_rotation`.
 */
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { resolve } from 'node:path';
import { identityOf, type Config, type ConfigProblem } from '@pillion/core';
import type { ClusterTlsMaterial, ListenerTlsMaterial, TlsMaterial } from '../messages.js';

/** How often watched files are checked (stat): symlink swaps (Kubernetes secrets) are seen too. */
const POLL_MS = 1000;

export type TlsBuild = { ok: true; material: TlsMaterial } | { ok: false; problems: ConfigProblem[] };

/** A certificate file's expiry, for `pillion_tls_certificate_expiry_seconds`. */
export interface CertificateExpiry {
  file: string;
  notAfter: number;
}

export class TlsRegistry {
  private readonly watched = new Set<string>();
  private onChange: ((file: string) => void) | null = null;
  private debounce: NodeJS.Timeout | null = null;
  /** Listener → its ticket keys and when they were made. */
  private readonly tickets = new Map<string, { keys: Buffer; madeAt: number }>();
  private rotation: NodeJS.Timeout | null = null;
  /** Expiry of every certificate file of the last good build. */
  expiries: CertificateExpiry[] = [];

  /** `configDir`: where relative paths start (the config file's folder). */
  constructor(
    private readonly configDir: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reads and checks every TLS file of `config`. */
  build(config: Config): TlsBuild {
    const problems: ConfigProblem[] = [];
    const files = new Map<string, string>();
    const expiries: CertificateExpiry[] = [];
    const read = (p: string, at: string): string | null => {
      const file = resolve(this.configDir, p);
      const cached = files.get(file);
      if (cached !== undefined) return cached;
      try {
        const text = readFileSync(file, 'utf8');
        files.set(file, text);
        return text;
      } catch (e) {
        problems.push({ path: at, message: `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
        return null;
      }
    };
    /** A certificate chain (leaf first) and its key; null when either fails a check. */
    const pair = (certFile: string, keyFile: string, at: string): { cert: string; key: string; leaf: X509Certificate } | null => {
      const cert = read(certFile, `${at}.cert_file`);
      const key = read(keyFile, `${at}.key_file`);
      if (cert === null || key === null) return null;
      const chain = parseCertificates(cert);
      if (chain.length === 0) {
        problems.push({ path: `${at}.cert_file`, message: `${resolve(this.configDir, certFile)} holds no PEM certificate` });
        return null;
      }
      let privateKey;
      try {
        privateKey = createPrivateKey(key);
      } catch (e) {
        problems.push({ path: `${at}.key_file`, message: `${resolve(this.configDir, keyFile)} is not a private key: ${(e as Error).message}` });
        return null;
      }
      if (!chain[0]!.checkPrivateKey(privateKey)) {
        problems.push({ path: `${at}.key_file`, message: `the key in ${resolve(this.configDir, keyFile)} does not match the certificate in ${resolve(this.configDir, certFile)}` });
        return null;
      }
      expiries.push({ file: resolve(this.configDir, certFile), notAfter: Date.parse(chain[0]!.validTo) });
      return { cert, key, leaf: chain[0]! };
    };
    const bundle = (p: string, at: string): string | null => {
      const text = read(p, at);
      if (text === null) return null;
      if (parseCertificates(text).length === 0) {
        problems.push({ path: at, message: `${resolve(this.configDir, p)} holds no PEM certificate` });
        return null;
      }
      return text;
    };

    const listeners: Record<string, ListenerTlsMaterial> = {};
    config.listeners.forEach((l, i) => {
      if (l.protocol === 'udp' || l.tls === undefined) return;
      const at = `listeners[${i}].tls`;
      const certificates: ListenerTlsMaterial['certificates'] = [];
      l.tls.certificates.forEach((c, j) => {
        const p = pair(c.cert_file, c.key_file, `${at}.certificates[${j}]`);
        if (p !== null) certificates.push({ cert: p.cert, key: p.key, serverNames: c.server_names, uri: identityOf(p.leaf).uriSans[0] ?? '' });
      });
      const cc = l.tls.client_certificate;
      const ca = cc === undefined ? null : bundle(cc.ca_file, `${at}.client_certificate.ca_file`);
      listeners[l.name] = { certificates, ca, ticketKeys: this.ticketKeys(l.name, l.tls.session_ticket_rotation) };
    });
    const clusters: Record<string, ClusterTlsMaterial> = {};
    config.clusters.forEach((c, i) => {
      if (c.tls === undefined) return;
      const at = `clusters[${i}].tls`;
      const ca = c.tls.ca_file === undefined ? null : bundle(c.tls.ca_file, `${at}.ca_file`);
      const p = c.tls.cert_file === undefined ? null : pair(c.tls.cert_file, c.tls.key_file!, at);
      clusters[c.name] = { ca, cert: p?.cert ?? null, key: p?.key ?? null };
    });
    for (const name of [...this.tickets.keys()]) if (!(name in listeners)) this.tickets.delete(name);
    if (problems.length) return { ok: false, problems };
    this.watch([...files.keys()]);
    this.expiries = expiries;
    return { ok: true, material: { listeners, clusters } };
  }

  /** Calls `onChange` with the file when a watched file changes (debounced). */
  watchChanges(onChange: (file: string) => void): void {
    this.onChange = onChange;
  }

  /**
   * Calls `rotate` when some listener's ticket keys are older than its rotation interval (checked every
   * minute); the caller rebuilds, which makes the new keys.
   */
  startRotation(config: () => Config, rotate: () => void): void {
    this.rotation = setInterval(() => {
      const due = config().listeners.some((l) => {
        if (l.protocol === 'udp' || l.tls === undefined) return false;
        const t = this.tickets.get(l.name);
        return t !== undefined && this.now() - t.madeAt >= l.tls.session_ticket_rotation;
      });
      if (due) rotate();
    }, 60_000);
    this.rotation.unref();
  }

  close(): void {
    if (this.rotation) clearInterval(this.rotation);
    if (this.debounce) clearTimeout(this.debounce);
    for (const f of this.watched) unwatchFile(f);
    this.watched.clear();
  }

  private ticketKeys(listener: string, rotationMs: number): Uint8Array {
    let t = this.tickets.get(listener);
    if (t === undefined || this.now() - t.madeAt >= rotationMs) {
      t = { keys: randomBytes(48), madeAt: this.now() };
      this.tickets.set(listener, t);
    }
    return new Uint8Array(t.keys);
  }

  private watch(files: string[]): void {
    const keep = new Set(files);
    for (const f of this.watched) {
      if (!keep.has(f)) {
        unwatchFile(f);
        this.watched.delete(f);
      }
    }
    for (const f of files) {
      if (this.watched.has(f)) continue;
      this.watched.add(f);
      watchFile(f, { interval: POLL_MS, persistent: false }, (cur, prev) => {
        if (cur.mtimeMs === prev.mtimeMs && cur.ino === prev.ino && cur.size === prev.size) return;
        if (this.debounce) clearTimeout(this.debounce);
        // A rotation writes certificate and key one after the other: wait for both.
        this.debounce = setTimeout(() => this.onChange?.(f), 200);
      });
    }
  }
}

/** Every certificate in a PEM text, in order (a chain or a CA bundle). */
export function parseCertificates(pem: string): X509Certificate[] {
  const out: X509Certificate[] = [];
  const re = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
  for (const m of pem.matchAll(re)) {
    try {
      out.push(new X509Certificate(m[0]));
    } catch {
      // A block that does not parse is not a certificate.
    }
  }
  return out;
}
