/**
 * The syntax of `discovery.names` and `discovery.resolvers`. A strict-dns or logical-dns name carries
 * the port its endpoints listen on (`api.internal:8080`); an SRV name carries none (the records do).
 * Resolvers are IP addresses, because a resolver's own name would need a resolver to find it.
 */
import { isIP } from 'node:net';

export const DISCOVERY_TYPES = ['strict-dns', 'logical-dns', 'srv'] as const;
export type DiscoveryType = (typeof DISCOVERY_TYPES)[number];

/** Which address records a name is asked for: A only, AAAA only, A and AAAA if no A, or both. */
export const DNS_FAMILIES = ['v4', 'v6', 'v4-preferred', 'all'] as const;
export type DnsFamily = (typeof DNS_FAMILIES)[number];

export const DNS_DEFAULT_PORT = 53;

const LABEL = /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** Whether `host` is a DNS name: dot-separated labels of letters, digits, '-' and '_', 253 characters at most. */
export function isDnsName(host: string): boolean {
  const name = host.endsWith('.') ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((l) => LABEL.test(l));
}

export type DnsParsed<T> = { ok: true; value: T } | { ok: false; message: string };

/** A `discovery.names` entry of a cluster of `type`: `host:port` for strict-dns and logical-dns, a bare name for srv. */
export function parseDiscoveryName(text: string, type: DiscoveryType): DnsParsed<{ host: string; port: number }> {
  const colon = text.lastIndexOf(':');
  const hasPort = colon > 0 && /^[0-9]+$/.test(text.slice(colon + 1));
  if (type === 'srv') {
    if (hasPort) return { ok: false, message: `"${text}" has a port: an SRV name carries none (each SRV record has its own port)` };
    if (!isDnsName(text)) return { ok: false, message: `"${text}" is not a DNS name` };
    return { ok: true, value: { host: text, port: 0 } };
  }
  if (!hasPort) return { ok: false, message: `"${text}" has no port: write it as name:port (${type} endpoints take their port from the name)` };
  const host = text.slice(0, colon);
  const port = Number(text.slice(colon + 1));
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { ok: false, message: `"${text}": the port must be 1-65535` };
  if (isIP(host.replace(/^\[|\]$/g, '')) !== 0) return { ok: false, message: `"${text}" is an IP address, not a name: list it under endpoints instead` };
  if (!isDnsName(host)) return { ok: false, message: `"${text}": "${host}" is not a DNS name` };
  return { ok: true, value: { host, port } };
}

/**
 * A `discovery.resolvers` entry: `IP`, `IP:PORT`, `[IPv6]:PORT` or a bare IPv6 address; normalized to
 * what `dns.Resolver.setServers` takes (`127.0.0.1:5353`, `[::1]:53`).
 */
export function parseResolver(text: string): DnsParsed<string> {
  const bad = { ok: false as const, message: `"${text}" must be an IP address with an optional port: 127.0.0.1:5353, [::1]:53, 10.0.0.2` };
  let host = text;
  let port = DNS_DEFAULT_PORT;
  const bracket = /^\[([^\]]+)\](?::([0-9]+))?$/.exec(text);
  if (bracket) {
    host = bracket[1]!;
    if (bracket[2] !== undefined) port = Number(bracket[2]);
    if (isIP(host) !== 6) return bad;
  } else if (isIP(text) === 0) {
    const colon = text.lastIndexOf(':');
    if (colon <= 0 || !/^[0-9]+$/.test(text.slice(colon + 1))) return bad;
    host = text.slice(0, colon);
    port = Number(text.slice(colon + 1));
    if (isIP(host) !== 4) return bad;
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { ok: false, message: `"${text}": the port must be 1-65535` };
  return { ok: true, value: isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}` };
}
