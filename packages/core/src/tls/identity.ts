/**
 * Who is at the other end of a verified TLS connection, as routes, filters, logs and forwarded
 * headers see it: the certificate's URI SANs (SPIFFE IDs such as
 * `spiffe://cluster.local/ns/default/sa/web`), DNS SANs, subject, and the SHA-256 of its DER bytes.
 * Built from what node:tls reports (`X509Certificate`'s `subjectAltName`, `subject`, `fingerprint256`).
 */

export interface PeerIdentity {
  readonly uriSans: readonly string[];
  readonly dnsSans: readonly string[];
  /** The distinguished name, one `KEY=value` per line as node:tls gives it. */
  readonly subject: string;
  /** The subject's CN, or ''. */
  readonly commonName: string;
  /** SHA-256 of the certificate's DER bytes, lower-case hex without separators. */
  readonly hash: string;
  /** The name a route matches and a log shows: the first URI SAN, else the first DNS SAN, else the CN. */
  readonly name: string;
}

/** A certificate as node:tls describes it (`crypto.X509Certificate` has these fields). */
export interface CertificateFields {
  readonly subjectAltName?: string | undefined;
  readonly subject: string;
  readonly fingerprint256: string;
}

export function identityOf(cert: CertificateFields): PeerIdentity {
  const sans = parseSubjectAltName(cert.subjectAltName ?? '');
  const commonName = subjectField(cert.subject, 'CN');
  return {
    uriSans: sans.uri,
    dnsSans: sans.dns,
    subject: cert.subject,
    commonName,
    hash: cert.fingerprint256.replace(/:/g, '').toLowerCase(),
    name: sans.uri[0] ?? sans.dns[0] ?? commonName,
  };
}

/**
 * Splits node's `subjectAltName` text (`DNS:a.example, URI:spiffe://td/x, IP Address:10.0.0.1`) into
 * its kinds. Node writes a value that holds a comma, quote or other special character as a JSON string
 * (`URI:"spiffe://td/a,b"`), so such values are read back exactly.
 */
export function parseSubjectAltName(text: string): { uri: string[]; dns: string[]; ip: string[] } {
  const out = { uri: [] as string[], dns: [] as string[], ip: [] as string[] };
  let i = 0;
  while (i < text.length) {
    while (text[i] === ' ' || text[i] === ',') i++;
    const colon = text.indexOf(':', i);
    if (colon === -1) break;
    const kind = text.slice(i, colon);
    let value: string;
    let j = colon + 1;
    if (text[j] === '"') {
      // A JSON string: find its closing quote, skipping escaped ones.
      let k = j + 1;
      while (k < text.length && text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
      value = JSON.parse(text.slice(j, k + 1)) as string;
      j = k + 1;
    } else {
      const comma = text.indexOf(', ', j);
      const end = comma === -1 ? text.length : comma;
      value = text.slice(j, end);
      j = end;
    }
    if (kind === 'URI') out.uri.push(value);
    else if (kind === 'DNS') out.dns.push(value);
    else if (kind === 'IP Address') out.ip.push(value);
    i = j;
  }
  return out;
}

/** The value of `key` (CN, O, ...) in a subject as node:tls writes it, or ''. */
export function subjectField(subject: string, key: string): string {
  for (const line of subject.split('\n')) {
    const eq = line.indexOf('=');
    if (eq !== -1 && line.slice(0, eq) === key) return line.slice(eq + 1);
  }
  return '';
}

/**
 * `allowed_sans` entries are exact, or end in `*` to match any value that starts with what comes
 * before it. A certificate is allowed when one of its URI or DNS SANs matches one entry.
 */
export function sansAllowed(patterns: readonly string[], id: PeerIdentity): boolean {
  for (const p of patterns) {
    for (const san of id.uriSans) if (sanMatches(p, san)) return true;
    for (const san of id.dnsSans) if (sanMatches(p, san)) return true;
  }
  return false;
}

export function sanMatches(pattern: string, san: string): boolean {
  return pattern.endsWith('*') ? san.startsWith(pattern.slice(0, -1)) : san === pattern;
}
