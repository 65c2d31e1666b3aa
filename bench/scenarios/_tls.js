// Shared by tls-hello-world and tls-handshakes (files starting with "_" are not scenarios): their
// rows, and the notes that say what every peer negotiated and how Pillion compares with nginx.
import { fmtCpu, fmtInt, fmtPct, fmtRatio } from '../lib/format.js';
import { median, ratio } from '../lib/stats.js';
import { benchCertificates } from '../lib/tls-certs.js';
import { tlsFacts } from '../lib/tls-load.js';

/** Peer kinds that serve TLS here. `pillion-strict` is left out: with `tls` it is the same server as `pillion`. */
export const TLS_KINDS = ['pillion', 'nginx', 'haproxy'];

/** Pillion's req/s should be at least this share of nginx's, with one worker each. */
export const GOAL = 0.8;

/** How each kind serves TLS in these scenarios, for the notes. */
export const TLS_SETUP =
  'TLS setup: Pillion listener `tls.certificates` (Node\'s HTTPS server, http1-strict, `min_version` TLSv1.2 by default); ' +
  'nginx `listen ... ssl`, `ssl_protocols TLSv1.2 TLSv1.3`, its default session cache and tickets; ' +
  'HAProxy `bind ... ssl crt FILE ssl-min-ver TLSv1.2`. Ciphers, curves and TLS 1.3 suites are OpenSSL\'s defaults everywhere.';

/**
 * The rows: one-worker Pillion, nginx and HAProxy (and a `--baseline` twin of Pillion), as installed and selected.
 * @param {ReadonlyArray<import('../lib/run-scenario.js').ReadyVariant>} selected
 * @returns {import('../lib/run-scenario.js').ReadyVariant[]}
 */
export function tlsVariants(selected) {
  return selected.filter((v) => v.workers === 1 && TLS_KINDS.includes(v.kind.family ?? v.kind.name));
}

/**
 * `pillion-1`'s figures as shares of `nginx-1`'s: req/s (against GOAL when `goal`) and CPU per request.
 * @param {{ id: string, samples: import('../lib/types.js').Sample[] }[]} rows
 * @param {string} what  what a request is, for the sentence ("req/s", "handshakes/s")
 * @param {{ goal: boolean }} o  whether GOAL applies to this scenario's req/s
 * @returns {{ line: string | null, rps: number | null, cpu: number | null }}
 */
export function goalLine(rows, what, o) {
  const of = (/** @type {string} */ id) => rows.find((r) => r.id === id)?.samples ?? [];
  const p = of('pillion-1');
  const n = of('nginx-1');
  if (!p.length || !n.length) return { line: null, rps: null, cpu: null };
  const pr = median(p.map((s) => s.rps));
  const nr = median(n.map((s) => s.rps));
  const pc = median(p.map((s) => s.cpuPer10k));
  const nc = median(n.map((s) => s.cpuPer10k));
  const rps = ratio(pr, nr);
  const cpu = ratio(pc, nc);
  const goal = o.goal && rps !== null ? `; the goal is at least ${fmtRatio(GOAL)}: ${rps >= GOAL ? 'met' : 'not met'}` : '';
  return {
    line:
      `pillion-1 against nginx-1: ${fmtInt(pr)} against ${fmtInt(nr)} ${what}, ${fmtRatio(rps) || '—'}${goal}; ` +
      `CPU ${fmtCpu(pc)} against ${fmtCpu(nc)} s per 10k, ${fmtRatio(cpu) || '—'}.`,
    rps,
    cpu,
  };
}

/** At this share of a core or more, the load generator sets the pace. */
export const CLIENT_BOUND = 0.85;

/**
 * A warning when the bench's own client used most of a core on some row: req/s then measures the client.
 * @param {{ id: string, samples: import('../lib/types.js').Sample[] }[]} rows
 * @returns {string | null}
 */
export function clientBoundLine(rows) {
  const busy = rows
    .map((r) => ({ id: r.id, cpu: median(r.samples.map((s) => s.loadCpu)) }))
    .filter((r) => r.cpu !== null && r.cpu >= CLIENT_BOUND);
  if (!busy.length) return null;
  return (
    `The client (the bench process, one thread doing its TLS) used ${busy.map((r) => `${fmtPct(r.cpu)} of a core on ${r.id}`).join(', ')}: ` +
    'there it, not the proxy, set the pace, so compare by CPU per request.'
  );
}

/**
 * One line on what the peers negotiated with the client: the same for all, or per peer.
 * @param {{ id: string, facts: import('../lib/tls-load.js').TlsFacts | null, error?: string }[]} peers
 * @param {{ fingerprint: string, keyType: string }} cert
 */
export function negotiatedLine(peers, cert) {
  const one = (/** @type {import('../lib/tls-load.js').TlsFacts} */ f) =>
    `${f.protocol}, ${f.cipher}, ${f.group ?? 'no ephemeral key'} key exchange`;
  const ok = peers.filter((p) => p.facts !== null);
  const sameCert = ok.every((p) => p.facts?.fingerprint === cert.fingerprint && p.facts?.verified);
  const certText = `${sameCert ? 'the same certificate' : 'NOT all the bench certificate'} (${cert.keyType === 'ec prime256v1' ? 'ECDSA P-256' : cert.keyType}, made by openssl for this run, SHA-256 ${cert.fingerprint.slice(0, 23)}…)`;
  const kinds = new Set(ok.map((p) => one(/** @type {import('../lib/tls-load.js').TlsFacts} */ (p.facts))));
  const failed = peers.filter((p) => p.facts === null).map((p) => `${p.id}: ${p.error ?? 'no handshake'}`);
  const negotiated =
    kinds.size === 1
      ? `every peer negotiated ${[...kinds][0]}`
      : ok.map((p) => `${p.id} ${one(/** @type {import('../lib/tls-load.js').TlsFacts} */ (p.facts))}`).join('; ');
  return `With the bench's client (Node's TLS, no ALPN, no session offered): ${negotiated}, and served ${certText}.` +
    (failed.length ? ` No handshake: ${failed.join('; ')}.` : '');
}

/**
 * The peers' TLS facts, one handshake each while they still run.
 * @param {import('../lib/types.js').NotesContext} ctx
 */
export async function peerTlsFacts(ctx) {
  const cert = benchCertificates();
  const peers = await Promise.all(
    ctx.rows.map(async (r) => {
      try {
        return { id: r.id, facts: await tlsFacts(r.url, cert.ca) };
      } catch (err) {
        return { id: r.id, facts: null, error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
  return { cert, peers };
}
