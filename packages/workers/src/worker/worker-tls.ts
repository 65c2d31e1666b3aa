/**
 * A worker's TLS: secure contexts built from the certificates the supervisor read (RuntimeSnapshot.tls)
 * and the config's options, one per listener certificate and one per cluster, rebuilt only when their
 * PEM text or options change (never per connection: building a context costs about 0.74 ms). Servers
 * pick a listener certificate by SNI through `ListenerTls.serverOptions()`, which reads the current
 * contexts at each handshake, so a rotated certificate serves new handshakes at once.
 */
import { createHash } from 'node:crypto';
import { createSecureContext, type ConnectionOptions, type SecureContext, type TLSSocket, type TlsOptions } from 'node:tls';
import { checkServerIdentity as checkHostName } from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import {
  identityOf,
  sansAllowed,
  serverNameMatches,
  type ClusterConfig,
  type ClusterTlsConfig,
  type Config,
  type ListenerTlsConfig,
  type PeerIdentity,
} from '@pillion/core';
import type { ClusterTlsMaterial, ListenerTlsMaterial, RuntimeSnapshot } from '../messages.js';

/** Why a handshake or a verified peer was refused, as metrics and logs name it. */
export type TlsRefusal = 'no_client_certificate' | 'client_certificate_invalid' | 'client_san_not_allowed';

/** The peer of a connection after the handshake: its identity, or why it is refused. */
export type PeerCheck = { ok: true; identity: PeerIdentity | null } | { ok: false; reason: TlsRefusal; detail: string };

export class ListenerTls {
  private contexts: { context: SecureContext; serverNames: string[] }[] = [];
  private key = '';
  /** The PEM text the contexts were built from: the default certificate also serves clients that send no SNI. */
  private material: ListenerTlsMaterial | null = null;
  /** The URI SAN of the default certificate ('' for none): By in x-forwarded-client-cert. */
  by = '';
  ticketKeys: Buffer = Buffer.alloc(48);
  /** Counts rebuilds of the contexts: a server compares it to know when to take the new options. */
  generation = 0;
  /**
   * OpenSSL's session id context, the same in every worker and in every context of the listener (the
   * SNI callback switches contexts mid-handshake), so a session verified with a client certificate
   * resumes on any worker.
   */
  readonly sessionIdContext: string;

  constructor(
    readonly name: string,
    public config: ListenerTlsConfig,
  ) {
    this.sessionIdContext = createHash('sha256').update(`pillion listener ${name}`).digest('hex').slice(0, 32);
  }

  /** Rebuilds the contexts when the material or options changed; true when they did. */
  update(config: ListenerTlsConfig, material: ListenerTlsMaterial): boolean {
    const key = JSON.stringify([config, material.certificates, material.ca, Buffer.from(material.ticketKeys).toString('hex')]);
    this.config = config;
    this.ticketKeys = Buffer.from(material.ticketKeys);
    if (key === this.key) return false;
    this.key = key;
    this.material = material;
    this.contexts = material.certificates.map((c) => ({
      context: createSecureContext({
        cert: c.cert,
        key: c.key,
        ca: material.ca ?? undefined,
        minVersion: config.min_version,
        ciphers: config.ciphers,
        ticketKeys: this.ticketKeys,
        sessionIdContext: this.sessionIdContext,
      }),
      serverNames: c.serverNames,
    }));
    this.by = material.certificates[0]?.uri ?? '';
    this.generation++;
    return true;
  }

  /** The context for a client asking for `serverName` (SNI): the first certificate that names it, else the default. */
  contextFor(serverName: string): SecureContext {
    const name = serverName.toLowerCase();
    for (const c of this.contexts) for (const p of c.serverNames) if (p === name) return c.context;
    for (const c of this.contexts) for (const p of c.serverNames) if (serverNameMatches(p, name)) return c.context;
    return this.contexts[0]!.context;
  }

  /**
   * Options for a node:tls (or https, http2) server: certificates by SNI, client certificates when the
   * listener asks for them, minimum version, ciphers, ALPN, session tickets shared by every worker, the
   * handshake timeout. The default certificate is given as PEM (a node:tls server builds its own
   * context from these options and ignores `secureContext`; a client without SNI gets that one), the
   * others through the SNI callback. A server takes new options with `setSecureContext(options)`.
   *
   * Client certificates are requested but never rejected by node:tls itself (which would close the
   * connection without saying why): `checkPeer` decides after the handshake, so every refusal is
   * counted by its reason.
   */
  serverOptions(alpn: readonly string[]): TlsOptions {
    const cc = this.config.client_certificate;
    const def = this.material?.certificates[0];
    return {
      SNICallback: (servername, cb) => cb(null, this.contextFor(servername)),
      cert: def?.cert,
      key: def?.key,
      ca: this.material?.ca ?? undefined,
      requestCert: cc !== undefined,
      rejectUnauthorized: false,
      minVersion: this.config.min_version,
      ciphers: this.config.ciphers,
      ALPNProtocols: alpn.length ? [...alpn] : undefined,
      ticketKeys: this.ticketKeys,
      sessionIdContext: this.sessionIdContext,
      handshakeTimeout: this.config.handshake_timeout,
    };
  }

  /**
   * Checks a client once its handshake is done: with `client_certificate`, whether it presented one
   * (require), whether it chains to the CA (optional lets a client without one in, never one with an
   * invalid one), and whether a SAN is allowed. Returns the verified identity (null: no certificate).
   */
  checkPeer(socket: TLSSocket): PeerCheck {
    const cc = this.config.client_certificate;
    if (cc === undefined) return { ok: true, identity: null };
    const cert = socket.getPeerX509Certificate();
    if (cert === undefined) {
      if (cc.mode === 'require') return { ok: false, reason: 'no_client_certificate', detail: 'no client certificate' };
      return { ok: true, identity: null };
    }
    if (!socket.authorized) return { ok: false, reason: 'client_certificate_invalid', detail: String(socket.authorizationError) };
    const identity = identityOf(cert);
    if (cc.allowed_sans.length && !sansAllowed(cc.allowed_sans, identity)) {
      return { ok: false, reason: 'client_san_not_allowed', detail: `${identity.name || 'a certificate without SANs'} is not in allowed_sans` };
    }
    return { ok: true, identity };
  }
}

export class ClusterTls {
  private context: SecureContext | null = null;
  private key = '';

  constructor(
    readonly name: string,
    public config: ClusterTlsConfig,
  ) {}

  update(config: ClusterTlsConfig, material: ClusterTlsMaterial): boolean {
    const key = JSON.stringify([config, material]);
    this.config = config;
    if (key === this.key && this.context !== null) return false;
    this.key = key;
    this.context = createSecureContext({
      ca: material.ca ?? undefined,
      cert: material.cert ?? undefined,
      key: material.key ?? undefined,
      minVersion: config.min_version,
      ciphers: config.ciphers,
    });
    return true;
  }

  /**
   * Options for tls.connect to an endpoint at `address`: the cluster's one secure context, SNI (the
   * configured name, else the address when it is a host name), and the peer check: its SANs against
   * allowed_sans, else the host name (Node's own check, which knows nothing of URI SANs). `session`:
   * a session from an earlier connection to the same endpoint, to resume.
   */
  connectOptions(address: string, session?: Buffer): ConnectionOptions {
    const t = this.config;
    const servername = t.sni ?? (isIp(address) ? undefined : address);
    const allowed = t.allowed_sans;
    return {
      secureContext: this.context!,
      servername,
      ALPNProtocols: t.alpn.length ? [...t.alpn] : undefined,
      minVersion: t.min_version,
      session,
      checkServerIdentity:
        allowed !== undefined
          ? (_host: string, cert: PeerCertificate) =>
              sansAllowed(allowed, identityOf({ subjectAltName: cert.subjectaltname, subject: subjectText(cert.subject), fingerprint256: cert.fingerprint256 }))
                ? undefined
                : new Error(`upstream certificate SANs (${cert.subjectaltname ?? 'none'}) match none of allowed_sans`)
          : (host: string, cert: PeerCertificate) => checkHostName(t.sni ?? host, cert),
    };
  }
}

/** Every listener's and cluster's TLS in one worker, kept in step with the snapshots it applies. */
export class WorkerTls {
  private readonly listeners = new Map<string, ListenerTls>();
  private readonly clusters = new Map<string, ClusterTls>();

  /** Applies a snapshot: new, changed and removed listeners and clusters. Returns the listeners whose contexts changed. */
  update(snapshot: RuntimeSnapshot): string[] {
    const config: Config = snapshot.config;
    const material = snapshot.tls ?? { listeners: {}, clusters: {} };
    const changed: string[] = [];
    const seen = new Set<string>();
    for (const l of config.listeners) {
      if (l.protocol === 'udp' || l.tls === undefined) continue;
      const m = material.listeners[l.name];
      if (m === undefined) continue;
      seen.add(l.name);
      let t = this.listeners.get(l.name);
      if (t === undefined) this.listeners.set(l.name, (t = new ListenerTls(l.name, l.tls)));
      if (t.update(l.tls, m)) changed.push(l.name);
    }
    for (const name of [...this.listeners.keys()]) if (!seen.has(name)) this.listeners.delete(name);
    seen.clear();
    for (const c of config.clusters as ClusterConfig[]) {
      if (c.tls === undefined) continue;
      const m = material.clusters[c.name];
      if (m === undefined) continue;
      seen.add(c.name);
      let t = this.clusters.get(c.name);
      if (t === undefined) this.clusters.set(c.name, (t = new ClusterTls(c.name, c.tls)));
      t.update(c.tls, m);
    }
    for (const name of [...this.clusters.keys()]) if (!seen.has(name)) this.clusters.delete(name);
    return changed;
  }

  listener(name: string): ListenerTls | undefined {
    return this.listeners.get(name);
  }

  cluster(name: string): ClusterTls | undefined {
    return this.clusters.get(name);
  }
}

function isIp(address: string): boolean {
  return /^[\d.]+$/.test(address) || address.includes(':');
}

/** A PeerCertificate's subject object as node's X509Certificate writes it (KEY=value lines). */
function subjectText(subject: PeerCertificate['subject'] | undefined): string {
  if (!subject) return '';
  return Object.entries(subject)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : v}`)
    .join('\n');
}
