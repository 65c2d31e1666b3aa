/**
 * The configuration schema: every field an operator may write, its type, its default and its limits.
 * Defaults live here and nowhere else; the rest of Pillion reads the parsed, defaulted `Config`.
 *
 * Objects are strict: an unknown key (a typo) is an error, never silently ignored.
 */
import { createRequire } from 'node:module';
import type { z as Zod } from 'zod';
import { parseDuration } from './duration.js';
import { FORWARD_CLIENT_CERT_MODES } from '../tls/xfcc.js';
import { PROPAGATION_FORMATS } from '../tracing/propagation.js';
import { DISCOVERY_TYPES, DNS_FAMILIES, parseDiscoveryName, parseResolver } from '../discovery/dns-names.js';

const DURATION_HELP = 'must be a duration like 250ms, 5s, 1m or a number of milliseconds';

/** A type error message that says "is required" when the field is missing. */
const expected = (what: string) => (iss: { input?: unknown }) => (iss.input === undefined ? 'is required' : `must be ${what}`);

/**
 * The uws codec's build closes a connection without a response on a 49th header field, and on an
 * unfinished head that reaches 4 KiB (a head over 4 KiB passes only when it arrives in one read; see
 * docs/http1-limits.md). Pillion's limits sit at or below what it can pass, so the operator's limit is
 * the one that answers (431) wherever the codec lets a request through.
 */
export const UWS_MAX_HEADER_FIELDS = 48;
export const UWS_MAX_HEAD_BYTES = 60 * 1024;

export const LIMIT_DEFAULTS = {
  max_request_headers_bytes: 16 * 1024,
  max_request_headers_count: UWS_MAX_HEADER_FIELDS,
  max_uri_bytes: 8 * 1024,
  max_request_body_bytes: 0, // 0 = unlimited (streamed); set a value to answer 413 over it
  max_response_headers_bytes: 64 * 1024,
} as const;

/**
 * How a plaintext HTTP listener reads requests: `uws` (uWebSockets.js, HTTP/1.1, the fastest; no
 * pipelining, some malformed requests get no reply), `http1-strict` (Node's llhttp: pipelining
 * answered in order, every malformed request answered 400 and closed, a head-read timeout) or `h2c`
 * (HTTP/2 with prior knowledge, Node's http2; a cleartext HTTP/2 server cannot also serve HTTP/1.1 on
 * its port). A listener with `tls` serves what ALPN agrees on (`tls.alpn`): h2 through Node's http2,
 * HTTP/1.1 through http1-strict.
 */
export const HTTP_CODECS = ['uws', 'http1-strict', 'h2c'] as const;
export type HttpCodec = (typeof HTTP_CODECS)[number];

/** How HTTP traffic reaches a cluster's endpoints: HTTP/1.1, HTTP/2 over TLS, HTTP/2 cleartext, or h2/HTTP/1.1 by ALPN. */
export const UPSTREAM_PROTOCOLS = ['http1', 'h2', 'h2c', 'auto'] as const;
export type UpstreamProtocol = (typeof UPSTREAM_PROTOCOLS)[number];

/** gRPC status names `retry.on` accepts (as in Envoy's retry_on for gRPC). */
export const GRPC_RETRY_ON = ['cancelled', 'deadline-exceeded', 'resource-exhausted', 'unavailable', 'internal'] as const;

/** The codec that serves an HTTP listener: the configured one, else uws, or http1-strict (Node's TLS server) with tls. */
export function httpCodecOf(l: { codec?: HttpCodec | undefined; tls?: unknown }): HttpCodec {
  return l.codec ?? (l.tls !== undefined ? 'http1-strict' : 'uws');
}

export const RETRY_ON = ['connect-failure', 'reset', 'gateway-error', '5xx', 'retriable-4xx', ...GRPC_RETRY_ON] as const;

export const LB_POLICIES = ['round-robin', 'random', 'least-request', 'ring-hash', 'maglev'] as const;

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

export const CIRCUIT_BREAKER_DEFAULTS = { max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3 } as const;

export const CAPACITY_DEFAULTS = { max_clusters: 64, max_endpoints: 1024, max_listeners: 32, max_routes: 256 } as const;

/**
 * V8 heap limits of each worker thread, in MiB (0 = V8's own default). The young generation is where
 * a request's short-lived objects live. V8's default lets a worker's grow to 32 MiB under sustained
 * load and keep it; 16 bounds it lower at the cost of more frequent minor collections. There is no
 * old-generation limit: a worker that reaches one is stopped with its uWS sockets open, which aborts
 * the whole process.
 */
export const WORKER_HEAP_DEFAULTS = { young_generation_mb: 16 } as const;

export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * The schemas themselves are built on first use, and zod is loaded then: a worker thread, which only
 * reads configs the supervisor has already validated, never loads it.
 */
function buildSchemas(z: typeof Zod) {
  function durationSchema() {
    return z
      .union([z.number(), z.string()], { error: DURATION_HELP })
      .transform((v, ctx) => {
        const ms = parseDuration(v);
        if (ms === undefined) {
          ctx.addIssue({ code: 'custom', message: `${DURATION_HELP} (got ${JSON.stringify(v)})` });
          return z.NEVER;
        }
        return ms;
      });
  }

  /** A duration field; parses to milliseconds. With a default it may be left out. */
  function duration(): ReturnType<typeof durationSchema>;
  function duration(defaultValue: string): Zod.ZodDefault<ReturnType<typeof durationSchema>>;
  function duration(defaultValue?: string) {
    const base = durationSchema();
    return defaultValue === undefined ? base : base.default(parseDuration(defaultValue)!);
  }

  const int = (min: number, max: number) => z.number({ error: expected('a number') }).int('must be an integer').min(min, `must be >= ${min}`).max(max, `must be <= ${max}`);
  const name = z
    .string({ error: expected('a string') })
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, "_", "-" or ".", starting with a letter or digit');
  const address = z.string({ error: expected('a string') }).min(1, 'must not be empty');
  const port = int(0, 65535);
  const oneOf = <T extends readonly [string, ...string[]]>(values: T) =>
    z.enum(values, { error: `must be one of ${values.join(', ')}` });
  const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'must be a valid header name').transform((s) => s.toLowerCase());
  const headerValue = z.string().refine((s) => !/[\0\r\n]/.test(s), 'must not contain NUL, CR or LF');

  // ---------------------------------------------------------------- limits

  const listenerLimits = z
    .strictObject({
      max_request_headers_bytes: int(1024, UWS_MAX_HEAD_BYTES).default(LIMIT_DEFAULTS.max_request_headers_bytes),
      max_request_headers_count: int(1, UWS_MAX_HEADER_FIELDS).default(LIMIT_DEFAULTS.max_request_headers_count),
      max_uri_bytes: int(64, 1024 * 1024).default(LIMIT_DEFAULTS.max_uri_bytes),
      max_request_body_bytes: int(0, Number.MAX_SAFE_INTEGER).default(LIMIT_DEFAULTS.max_request_body_bytes),
      max_response_headers_bytes: int(1024, 1024 * 1024).default(LIMIT_DEFAULTS.max_response_headers_bytes),
    })
    .prefault({});

  const listenerTimeouts = z
    .strictObject({
      /** Whole request through the proxy when the route sets none. 0 disables. */
      request: duration('60s'),
      /**
       * A keep-alive downstream connection with no request in flight closes after this. Applies to the
       * http1-strict codec; uWS closes idle connections after its own fixed 10 s.
       */
      idle: duration('60s'),
      /**
       * http1-strict: a request head not complete this long after the connection's first byte (or the end
       * of the previous request) is answered 408 and the connection closed. uWS has no such timer.
       */
      header_read: duration('10s'),
    })
    .prefault({});

  // ---------------------------------------------------------------- routes

  const headerMatch = z.union([
    headerValue,
    z.strictObject({ present: z.boolean() }),
    z.strictObject({ regex: z.string() }),
  ], { error: 'must be a value, { present: bool } or { regex: "..." }' });

  const routeMatch = z
    .strictObject({
      prefix: z.string().startsWith('/', 'must start with /').optional(),
      exact: z.string().startsWith('/', 'must start with /').optional(),
      regex: z.string().optional(),
      methods: z.array(z.string().regex(/^[A-Z][A-Z0-9_-]*$/, 'must be an upper-case method name')).min(1).optional(),
      headers: z.record(headerName, headerMatch).optional(),
      host: z.string().min(1).optional(),
      /**
       * The verified client certificate's identity (its URI SAN, else its first DNS SAN, else its CN).
       * A request whose route matches in everything but this gets 403.
       */
      client_identity: z
        .union([z.strictObject({ exact: z.string() }), z.strictObject({ prefix: z.string() }), z.strictObject({ regex: z.string() })], {
          error: 'must be { exact: ... }, { prefix: ... } or { regex: ... }',
        })
        .optional(),
    })
    .superRefine((m, ctx) => {
      const kinds = [m.prefix, m.exact, m.regex].filter((v) => v !== undefined).length;
      if (kinds > 1) ctx.addIssue({ code: 'custom', message: 'set only one of prefix, exact, regex' });
      if (m.regex !== undefined) {
        try {
          new RegExp(m.regex);
        } catch (e) {
          ctx.addIssue({ code: 'custom', path: ['regex'], message: `is not a valid regular expression: ${(e as Error).message}` });
        }
      }
      const id = m.client_identity as { regex?: string } | undefined;
      if (id?.regex !== undefined) {
        try {
          new RegExp(id.regex);
        } catch (e) {
          ctx.addIssue({ code: 'custom', path: ['client_identity', 'regex'], message: `is not a valid regular expression: ${(e as Error).message}` });
        }
      }
    });

  const backoff = z
    .strictObject({
      base: duration('25ms'),
      max: duration('250ms'),
      /** The longest Retry-After (from a 503 or 429) honoured; longer waits are cut to this. */
      retry_after_max: duration('10s'),
    })
    .prefault({});

  const retryOnError = `must be one of ${RETRY_ON.join(', ')} or a status code 400-599`;
  // The regex carries the message too: a bad name is a string, and zod reports the string branch's issue.
  const retryOn = z.union([oneOf(RETRY_ON), z.string().regex(/^[45][0-9][0-9]$/, retryOnError), int(400, 599).transform(String)], { error: retryOnError });

  const retry = z.strictObject({
    /** Retries after the first try (Envoy's num_retries). */
    attempts: int(0, 10).default(1),
    per_try_timeout: duration().optional(),
    on: z.array(retryOn).default(['connect-failure', 'reset']),
    backoff,
    /** Retries in flight may be at most this percent of the cluster's active requests... */
    budget_percent: z.number().min(0).max(100).default(20),
    /** ...but this many are always allowed. */
    min_retry_concurrency: int(0, 10_000).default(3),
    /** Request bodies up to this many bytes are kept so a retry can send them again; larger ones are not retried. */
    replay_buffer: int(0, 64 * 1024 * 1024).default(64 * 1024),
  });

  const headerEdits = z
    .strictObject({
      add: z.record(headerName, headerValue).default({}),
      remove: z.array(headerName).default([]),
    })
    .prefault({});

  const route = z
    .strictObject({
      name: z.string().optional(),
      match: routeMatch.prefault({}),
      cluster: name.optional(),
      weighted_clusters: z.array(z.strictObject({ cluster: name, weight: int(0, 1_000_000) })).min(1).optional(),
      timeout: duration().optional(),
      /** Left out, a route still retries once on connect-failure and reset; `attempts: 0` turns retries off. */
      retry: retry.prefault({}),
      prefix_rewrite: z.string().optional(),
      host_rewrite: z.string().min(1).optional(),
      request_headers: headerEdits,
      response_headers: headerEdits,
    })
    .superRefine((r, ctx) => {
      if ((r.cluster === undefined) === (r.weighted_clusters === undefined)) {
        ctx.addIssue({ code: 'custom', message: 'set exactly one of cluster, weighted_clusters' });
      }
      if (r.weighted_clusters && r.weighted_clusters.reduce((s, w) => s + w.weight, 0) === 0) {
        ctx.addIssue({ code: 'custom', path: ['weighted_clusters'], message: 'weights must not all be 0' });
      }
    });

  // ---------------------------------------------------------------- filters

  const filter = z.union(
    [
      z.strictObject({ plugin: name, config: z.unknown().optional(), fail_open: z.boolean().default(false), name: name.optional(), max_memory: z.string().or(z.number()).optional() }),
      z.strictObject({
        wasm: z.string().min(1),
        config: z.unknown().optional(),
        fail_open: z.boolean().default(false),
        name: name.optional(),
        max_memory: z.string().or(z.number()).optional(),
        // proxy-wasm modules only (told by their proxy_abi_version_0_2_x export):
        root_id: z.string().default(''),
        buffer_body: z.array(z.enum(['request', 'response'])).default([]),
        max_body_bytes: z.string().or(z.number()).default('1MiB'),
        shared_data: z
          .strictObject({
            keys: z.number().int().min(1).max(65536).default(256),
            key_bytes: z.number().int().min(1).max(65536).default(256),
            value_bytes: z.number().int().min(1).max(16 * 1024 * 1024).default(4096),
          })
          .prefault({}),
        shared_queues: z
          .strictObject({
            queues: z.number().int().min(1).max(1024).default(8),
            items: z.number().int().min(1).max(65536).default(64),
            item_bytes: z.number().int().min(1).max(16 * 1024 * 1024).default(4096),
          })
          .prefault({}),
      }),
    ],
    { error: 'must be { plugin: NAME, config } or { wasm: PATH, config }' },
  );

  // ---------------------------------------------------------------- TLS

  const tlsVersion = oneOf(TLS_VERSIONS);
  const file = z.string({ error: expected('a file path') }).min(1, 'must not be empty');
  /** `api.example.com` or `*.example.com` (any name ending in `.example.com`). */
  const serverName = z
    .string({ error: expected('a string') })
    .regex(/^(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*$/, 'must be a host name, or *. followed by one')
    .transform((v) => v.toLowerCase());
  /** An exact SAN, or one ending in `*` to match any SAN starting with what comes before it. */
  const sanPattern = z.string({ error: expected('a string') }).min(1, 'must not be empty');

  const certificate = z.strictObject({
    cert_file: file,
    key_file: file,
    /** SNI names this certificate serves; the first certificate is also the default for other names. */
    server_names: z.array(serverName).default([]),
  });

  const listenerTlsBase = {
    certificates: z.array(certificate).min(1, 'must have at least one certificate'),
    min_version: tlsVersion.default('TLSv1.2'),
    /** OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are OpenSSL's defaults). */
    ciphers: z.string().min(1).optional(),
    client_certificate: z
      .strictObject({
        ca_file: file,
        /** require: a handshake without a valid certificate fails. optional: none is fine, an invalid one fails. */
        mode: oneOf(['require', 'optional']).default('require'),
        allowed_sans: z.array(sanPattern).default([]),
      })
      .optional(),
    /** A handshake not finished this long after the connection was accepted is dropped. */
    handshake_timeout: duration('10s').refine((ms) => ms > 0, 'must be more than 0'),
    /** How often the session ticket keys (shared by every worker, so a client resumes on any) are replaced. */
    session_ticket_rotation: duration('12h'),
  };

  const httpListenerTls = z.strictObject({
    ...listenerTlsBase,
    /** Offered by ALPN, in order of preference: h2 goes to the HTTP/2 codec, http/1.1 (and clients without ALPN) to http1-strict. */
    alpn: z.array(oneOf(['h2', 'http/1.1'])).min(1).default(['h2', 'http/1.1']),
    forward_client_cert: oneOf(FORWARD_CLIENT_CERT_MODES).default('sanitize'),
  });

  const tcpListenerTls = z.strictObject({
    ...listenerTlsBase,
    /** Protocols offered by ALPN (any names); none by default. */
    alpn: z.array(z.string().min(1).max(255)).default([]),
  });

  const tlsPassthrough = z.strictObject({
    routes: z.array(z.strictObject({ server_names: z.array(serverName).min(1), cluster: name })).default([]),
    /** Connections whose SNI matches no route (or that send none); without it they are closed. */
    default_cluster: name.optional(),
  });

  const clusterTls = z
    .strictObject({
      /** Server name sent in SNI and, without allowed_sans, checked against the certificate; default: the endpoint's address. */
      sni: z.string().min(1).optional(),
      /** CA bundle the upstream's certificate must chain to; default: the system's trust store. */
      ca_file: file.optional(),
      /** Client certificate for mutual TLS. */
      cert_file: file.optional(),
      key_file: file.optional(),
      /** Accept the upstream when one of its URI or DNS SANs matches (instead of the host name check). */
      allowed_sans: z.array(sanPattern).optional(),
      min_version: tlsVersion.default('TLSv1.2'),
      ciphers: z.string().min(1).optional(),
      alpn: z.array(z.string().min(1).max(255)).default([]),
    })
    .superRefine((t, ctx) => {
      if ((t.cert_file === undefined) !== (t.key_file === undefined)) ctx.addIssue({ code: 'custom', message: 'set both cert_file and key_file, or neither' });
      if (t.alpn.some((p) => p !== 'http/1.1')) ctx.addIssue({ code: 'custom', path: ['alpn'], message: 'only http/1.1 may be listed here: for HTTP/2 set the cluster\'s protocol (h2, or auto to let ALPN decide)' });
    });

  // ---------------------------------------------------------------- tracing

  const propagation = z.array(oneOf(PROPAGATION_FORMATS)).min(1, 'must name at least one format');
  const sampleRatio = z.number({ error: expected('a number') }).min(0, 'must be >= 0').max(1, 'must be <= 1');

  const tracing = z.strictObject({
    /** Trace context formats read from requests and written to the upstream: w3c (traceparent, tracestate), b3 (b3 and X-B3-*). */
    propagation: propagation.default(['w3c']),
    sampling: z
      .strictObject({
        /** Share of requests without a caller's decision that are sampled, 0..1; a caller's decision is followed. */
        ratio: sampleRatio.default(0.01),
        /** Also export the proxy's spans of unsampled requests that ended in an error (5xx, abort). */
        errors: z.boolean().default(true),
      })
      .prefault({}),
    otlp: z
      .strictObject({
        /** OTLP/HTTP traces endpoint spans are POSTed to as JSON. */
        endpoint: z
          .string({ error: expected('a URL') })
          .refine((s) => /^https?:\/\//.test(s) && URL.canParse(s), 'must be an http:// or https:// URL')
          .default('http://127.0.0.1:4318/v1/traces'),
        /** Extra request fields of every export (an API key, say). */
        headers: z.record(headerName, headerValue).default({}),
        /** An export not answered within this is abandoned and counted as failed. */
        timeout: duration('10s').refine((ms) => ms > 0, 'must be more than 0'),
        batch: z
          .strictObject({
            /** Spans each worker holds for export at most; more are dropped and counted. */
            max_queue: int(1, 1_000_000).default(2048),
            /** Spans in one export request; a full batch is sent without waiting for the interval. */
            max_batch: int(1, 100_000).default(512),
            /** How often a worker sends what it holds. */
            interval: duration('1s').refine((ms) => ms > 0, 'must be more than 0'),
          })
          .prefault({}),
      })
      .prefault({}),
    /** The service.name resource attribute of exported spans. */
    service_name: z.string({ error: expected('a string') }).min(1, 'must not be empty').default('pillion'),
  });

  /** A listener's own propagation and sampling; unset fields come from the top-level tracing block. */
  const listenerTracing = z.strictObject({
    propagation: propagation.optional(),
    sampling: z.strictObject({ ratio: sampleRatio.optional(), errors: z.boolean().optional() }).optional(),
  });

  // ---------------------------------------------------------------- listeners

  const listenerHttp2 = z
    .strictObject({
      /** Streams a client may have open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
      max_concurrent_streams: int(1, 10_000).default(100),
      /** Flow-control window of each stream (SETTINGS_INITIAL_WINDOW_SIZE): what a client may send before the proxy reads. */
      initial_window_size: int(65_535, 2 ** 31 - 1).default(256 * 1024),
      /** Largest request header block, :path included (SETTINGS_MAX_HEADER_LIST_SIZE); unset: limits.max_request_headers_bytes + limits.max_uri_bytes. */
      max_header_list_size: int(1024, 1024 * 1024).optional(),
      /** A PING this often on a connection; one not answered within the interval closes it. Unset: no pings. */
      keepalive_interval: duration().optional(),
      /** A connection with no stream open this long is closed with GOAWAY; unset: timeouts.idle. */
      idle_timeout: duration().optional(),
      /** Streams a client may reset before they were answered, per connection and ten seconds, before it is closed (CVE-2023-44487). */
      max_resets_per_10s: int(1, 1_000_000).default(400),
    })
    .prefault({});

  const listenerBase = {
    name,
    address: address.default('127.0.0.1'),
    port,
  };

  const httpListener = z.strictObject({
    ...listenerBase,
    protocol: z.literal('http'),
    /** Unset: uws, or http1-strict for a listener with tls (see httpCodecOf). */
    codec: oneOf(HTTP_CODECS).optional(),
    /** http1-strict: requests read ahead of the one being answered on a connection before reading pauses. */
    max_pipelined_requests: int(1, 1024).default(16),
    filters: z.array(filter).default([]),
    routes: z.array(route).min(1, 'must have at least one route'),
    limits: listenerLimits,
    timeouts: listenerTimeouts,
    tls: httpListenerTls.optional(),
    /** HTTP/2 settings (codec h2c, and TLS listeners that offer h2). */
    http2: listenerHttp2,
    /** Overrides of the top-level tracing block for this listener (which must be set). */
    tracing: listenerTracing.optional(),
  });

  const tcpListener = z.strictObject({
    ...listenerBase,
    protocol: z.literal('tcp'),
    /** Every connection goes to this cluster (set this or tls_passthrough). */
    cluster: name.optional(),
    /** Terminate TLS here and proxy plaintext to the cluster. */
    tls: tcpListenerTls.optional(),
    /** Route TLS connections by the SNI of their ClientHello, passing the bytes through untouched. */
    tls_passthrough: tlsPassthrough.optional(),
    idle_timeout: duration('1h'),
    max_connection_duration: duration().optional(),
    connect_attempts: int(1, 10).default(3),
    /** Downstream connections open at once on this listener, all workers together; more are closed on accept. */
    max_connections: int(1, 10_000_000).default(10_000),
  });

  const udpListener = z.strictObject({
    ...listenerBase,
    protocol: z.literal('udp'),
    cluster: name,
    session_timeout: duration('30s'),
    max_sessions: int(1, 1_000_000).default(10_000),
    max_datagram_size: int(1, 65_507).default(65_507),
  });

  const listener = z.discriminatedUnion('protocol', [httpListener, tcpListener, udpListener], {
    error: 'protocol must be one of http, tcp, udp',
  });

  // ---------------------------------------------------------------- clusters

  const endpoint = z.strictObject({
    address,
    port: int(1, 65535),
    weight: int(1, 128).default(1),
    zone: z.string().default(''),
    /** 0 is the highest: endpoints of a lower priority (a larger number) take traffic only while no endpoint of a higher one is healthy. */
    priority: int(0, 65535).default(0),
  });

  /**
   * Endpoints from DNS instead of `endpoints` (the two cannot be mixed). strict-dns: every address of
   * every name; logical-dns: one address per name, for new connections; srv: the SRV records' targets,
   * ports, weights and priorities. See the README (Clusters, discovery).
   */
  const discovery = z
    .strictObject({
      type: oneOf(DISCOVERY_TYPES),
      names: z.array(z.string({ error: expected('a string') })).min(1, 'must list at least one name').max(64, 'must list at most 64 names'),
      /** Ask each name again after this long (or after the answer's TTL, when sooner and respect_ttl is on). */
      refresh: duration('5s'),
      respect_ttl: z.boolean().default(true),
      /** Each wait is shortened by a random part of up to this percent, so processes do not ask in step. */
      jitter_percent: z.number().min(0).max(50).default(10),
      /** DNS servers (IP, IP:PORT, [IPv6]:PORT); unset: the machine's (/etc/resolv.conf). */
      resolvers: z.array(z.string({ error: expected('a string') })).min(1, 'must list at least one resolver, or be left out').max(8).optional(),
      /** Address records asked for: A, AAAA, A then AAAA when there is no A, or both. */
      family: oneOf(DNS_FAMILIES).default('v4-preferred'),
      /** One query's wait for an answer, per try. */
      timeout: duration('1s'),
      /** Tries of one query before it counts as failed. */
      tries: int(1, 10).default(2),
    })
    .superRefine((d, ctx) => {
      d.names.forEach((n, i) => {
        const r = parseDiscoveryName(n, d.type);
        if (!r.ok) ctx.addIssue({ code: 'custom', path: ['names', i], message: r.message });
      });
      d.resolvers?.forEach((n, i) => {
        const r = parseResolver(n);
        if (!r.ok) ctx.addIssue({ code: 'custom', path: ['resolvers', i], message: r.message });
      });
      if (d.refresh < 50 || d.refresh > 86_400_000) ctx.addIssue({ code: 'custom', path: ['refresh'], message: 'must be from 50ms to 24h' });
      if (d.timeout < 10 || d.timeout > 60_000) ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'must be from 10ms to 60s' });
    });

  const lb = z
    .strictObject({
      policy: oneOf(LB_POLICIES).default('round-robin'),
      choices: int(2, 100).default(2),
      active_request_bias: z.number().min(0).max(10).default(1),
      hash_on: z
        .string()
        .regex(/^(header:[!#$%&'*+.^_`|~0-9A-Za-z-]+|cookie:[^\s;=]+|source-ip)$/, 'must be header:NAME, cookie:NAME or source-ip')
        .optional(),
      min_ring_size: int(1, 8_388_608).default(1024),
      table_size: int(1, 5_000_011).default(65_537),
      panic_threshold: z.number().min(0).max(100).default(50),
      local_zone: z.string().optional(),
    })
    .prefault({})
    .superRefine((l, ctx) => {
      const hashing = l.policy === 'ring-hash' || l.policy === 'maglev';
      if (hashing && !l.hash_on) ctx.addIssue({ code: 'custom', path: ['hash_on'], message: `is required with policy ${l.policy}` });
      if (!hashing && l.hash_on) ctx.addIssue({ code: 'custom', path: ['hash_on'], message: 'only applies to ring-hash and maglev' });
      if (l.policy === 'maglev' && !isPrime(l.table_size)) ctx.addIssue({ code: 'custom', path: ['table_size'], message: 'must be a prime (maglev spreads keys evenly only over a prime table)' });
    });

  const expectedStatus = z.union([int(100, 599), z.string().regex(/^[1-5]\d\d(-[1-5]\d\d)?$/, 'must be a status or a range like 200-299')]);

  const healthCheck = z
    .strictObject({
      http: z.strictObject({ path: z.string().startsWith('/').default('/health'), host: z.string().optional(), expected_statuses: z.array(expectedStatus).default(['200-299']) }).optional(),
      tcp: z.strictObject({}).optional(),
      /** grpc.health.v1.Health/Check over HTTP/2 (h2c, or h2 for a cluster with tls); healthy when SERVING. */
      grpc: z.strictObject({ service: z.string().default(''), authority: z.string().optional() }).optional(),
      interval: duration('5s'),
      timeout: duration('1s'),
      jitter: duration('0ms'),
      healthy_threshold: int(1, 100).default(2),
      unhealthy_threshold: int(1, 100).default(3),
    })
    .superRefine((h, ctx) => {
      if ([h.http, h.tcp, h.grpc].filter((k) => k !== undefined).length !== 1) ctx.addIssue({ code: 'custom', message: 'set exactly one of http, tcp, grpc' });
    });

  const outlierDetection = z.strictObject({
    consecutive_5xx: int(0, 1000).default(5),
    consecutive_gateway_failure: int(0, 1000).default(5),
    base_ejection_time: duration('30s'),
    max_ejection_time: duration('300s'),
    max_ejection_percent: int(0, 100).default(10),
    /** Each whole interval an endpoint spends back in service takes one off its ejection multiplier. */
    interval: duration('10s'),
  });

  const circuitBreaker = z
    .strictObject({
      max_connections: int(1, 10_000_000).default(CIRCUIT_BREAKER_DEFAULTS.max_connections),
      max_pending_requests: int(0, 10_000_000).default(CIRCUIT_BREAKER_DEFAULTS.max_pending_requests),
      max_requests: int(1, 10_000_000).default(CIRCUIT_BREAKER_DEFAULTS.max_requests),
      max_retries: int(0, 10_000_000).default(CIRCUIT_BREAKER_DEFAULTS.max_retries),
      /** The same limits for each endpoint on its own, all workers together (unset = no per-endpoint limit). */
      per_endpoint: z
        .strictObject({
          max_connections: int(1, 10_000_000).optional(),
          max_pending_requests: int(0, 10_000_000).optional(),
          max_requests: int(1, 10_000_000).optional(),
        })
        .prefault({}),
    })
    .prefault({});

  const pool = z
    .strictObject({
      max_connections_per_endpoint: int(1, 100_000).default(128),
      idle_timeout: duration('60s'),
      max_requests_per_connection: int(0, 100_000_000).default(0), // 0 = unlimited
      /** Open connections before any request needs them: at start, for new endpoints, on return to health. */
      warmup: z
        .strictObject({
          connections: int(1, 10_000).default(4),
          concurrency: int(1, 1000).default(2),
          backoff: z.strictObject({ base: duration('100ms'), max: duration('5s') }).prefault({}),
        })
        .optional(),
      /** Keep this many connections open per connection in use (Envoy's per_upstream_preconnect_ratio); 1 = off. */
      preconnect_ratio: z.number().min(1).max(3).default(1),
      /** Idle connections kept open past idle_timeout. */
      min_idle: int(0, 10_000).default(0),
      /** Connections older than this are closed when next idle (each with its own jitter), so none lives forever. */
      max_connection_age: duration().optional(),
    })
    .prefault({});

  const clusterHttp2 = z
    .strictObject({
      /** Streams opened at once on one session (the endpoint's own SETTINGS may lower it). */
      max_concurrent_streams: int(1, 10_000).default(100),
      /** Sessions each worker keeps to each endpoint at most; a new one opens when the others are full. */
      sessions_per_endpoint: int(1, 1000).default(1),
      /** A PING this often on an idle or busy session; one not answered within keepalive_timeout closes it. Unset: no pings. */
      keepalive_interval: duration().optional(),
      keepalive_timeout: duration('20s'),
    })
    .prefault({});

  const slowStart = z.strictObject({
    window: duration('30s'),
    aggression: z.number().positive().max(100).default(1),
    min_weight_percent: z.number().min(0).max(100).default(10),
    /** Also ramp the endpoints a process starts with (otherwise only those added or recovered later). */
    at_start: z.boolean().default(false),
  });

  /** The failure-rate breaker of each endpoint (closed, open, half-open); off unless set. */
  const failureBreaker = z.strictObject({
    window: duration('10s'),
    failure_rate_threshold: z.number().min(1).max(100).default(50),
    minimum_requests: int(1, 1_000_000).default(20),
    sleep_window: duration('30s'),
    half_open_requests: int(1, 1000).default(3),
  });

  const cluster = z.strictObject({
    name,
    endpoints: z.array(endpoint).default([]),
    /** Endpoints from DNS (strict-dns, logical-dns, srv); a cluster with it lists no endpoints. */
    discovery: discovery.optional(),
    connect_timeout: duration('1s'),
    lb,
    health_check: healthCheck.optional(),
    /** Left out, the defaults apply; both consecutive rules at 0 turn ejection off. */
    outlier_detection: outlierDetection.prefault({}),
    circuit_breaker: circuitBreaker,
    failure_breaker: failureBreaker.optional(),
    pool,
    slow_start: slowStart.optional(),
    /** TLS to the endpoints (HTTP and TCP clusters, and their health checks). */
    tls: clusterTls.optional(),
    /** How HTTP listeners reach the endpoints (TCP and UDP listeners ignore it): http1, h2 (TLS), h2c (cleartext), auto (ALPN over TLS). */
    protocol: oneOf(UPSTREAM_PROTOCOLS).default('http1'),
    /** HTTP/2 sessions to each endpoint (protocol h2, h2c, auto). */
    http2: clusterHttp2,
  });

  // ---------------------------------------------------------------- top level

  const configSchema = z
    .strictObject({
      workers: z.union([z.literal('auto'), int(1, 256)], { error: 'must be "auto" or an integer from 1 to 256' }).default('auto'),
      admin: z.strictObject({ address: address.default('127.0.0.1'), port: port.default(9901) }).prefault({}),
      log: z.strictObject({ level: oneOf(LOG_LEVELS).default('info') }).prefault({}),
      access_log: z
        .strictObject({
          enabled: z.boolean().default(true),
          /** Fraction of requests logged, 0..1. */
          sample: z.number().min(0).max(1).default(1),
        })
        .prefault({}),
      /** How long a drain (SIGTERM, POST /drain) waits for in-flight requests before closing them. */
      drain_timeout: duration('30s'),
      /** Sizes of the shared-memory tables; fixed for the life of the process. */
      capacity: z
        .strictObject({
          max_clusters: int(1, 4096).default(CAPACITY_DEFAULTS.max_clusters),
          max_endpoints: int(1, 65_536).default(CAPACITY_DEFAULTS.max_endpoints),
          max_listeners: int(1, 1024).default(CAPACITY_DEFAULTS.max_listeners),
          /** Routes with statistics of their own: distinct (listener, route name) pairs, all HTTP listeners together. */
          max_routes: int(1, 65_536).default(CAPACITY_DEFAULTS.max_routes),
        })
        .prefault({}),
      /** V8 heap limits of each worker thread; fixed for the life of the process. */
      worker_heap: z
        .strictObject({
          /** Smaller: less memory, more frequent minor collections. */
          young_generation_mb: int(0, 1024)
            .refine((v) => v === 0 || v >= 2, 'must be 0 (V8 default) or at least 2')
            .default(WORKER_HEAP_DEFAULTS.young_generation_mb),
        })
        .prefault({}),
      listeners: z.array(listener).min(1, 'must have at least one listener'),
      clusters: z.array(cluster).default([]),
      /** Distributed tracing (spans exported over OTLP/HTTP); off when absent. */
      tracing: tracing.optional(),
    })
    // Cross-references run even when other fields are invalid, so every problem is reported in one pass;
    // the document may then be half-parsed, hence the defensive reads.
    .superRefine((doc, ctx) => crossCheck(doc as unknown as LooseDoc, ctx), { when: () => true })
    // Defaults that depend on other fields, filled once the document is valid.
    .transform((doc) => {
      for (const l of doc.listeners) if (l.protocol === 'http') l.codec = httpCodecOf(l);
      return doc;
    });

  return { config: configSchema, endpoint };
}

type Schemas = ReturnType<typeof buildSchemas>;
let schemas: Schemas | undefined;

function built(): Schemas {
  schemas ??= buildSchemas((createRequire(import.meta.url)('zod') as { z: typeof Zod }).z);
  return schemas;
}

/** The schema of a whole config file. */
export function configSchema(): Schemas['config'] {
  return built().config;
}

/** Schema for one endpoint, used by the admin API when endpoints are replaced at run time. */
export function endpointSchema(): Schemas['endpoint'] {
  return built().endpoint;
}

interface LooseDoc {
  tracing?: unknown;
  listeners?: unknown;
  clusters?: unknown;
  capacity?: { max_clusters?: unknown; max_endpoints?: unknown; max_listeners?: unknown; max_routes?: unknown };
}
type Loose = Record<string, unknown>;
const list = (v: unknown): Loose[] => (Array.isArray(v) ? v.map((x) => (x && typeof x === 'object' ? (x as Loose) : {})) : []);
const num = (v: unknown, d: number) => (typeof v === 'number' ? v : d);

function crossCheck(c: LooseDoc, ctx: Zod.RefinementCtx): void {
  const clusters = list(c.clusters);
  const listeners = list(c.listeners);
  const clusterNames = new Map<string, number>();
  clusters.forEach((cl, i) => {
    if ((cl.protocol === 'h2' || cl.protocol === 'auto') && cl.tls === undefined) {
      ctx.addIssue({ code: 'custom', path: ['clusters', i, 'protocol'], message: `${cl.protocol} is HTTP/2 over TLS and needs tls: set tls, or use h2c for cleartext HTTP/2` });
    }
    if (cl.protocol === 'h2c' && cl.tls !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['clusters', i, 'protocol'], message: 'h2c is cleartext HTTP/2: with tls use h2 (or auto)' });
    }
    const hc = cl.health_check && typeof cl.health_check === 'object' ? (cl.health_check as Loose) : null;
    if (hc !== null && hc.grpc !== undefined && (cl.protocol === undefined || cl.protocol === 'http1')) {
      ctx.addIssue({ code: 'custom', path: ['clusters', i, 'health_check', 'grpc'], message: 'a gRPC health check speaks HTTP/2: set the cluster\'s protocol to h2c, h2 or auto' });
    }
    const n = String(cl.name);
    if (clusterNames.has(n)) ctx.addIssue({ code: 'custom', path: ['clusters', i, 'name'], message: `duplicate cluster name "${n}" (also clusters[${clusterNames.get(n)}])` });
    else clusterNames.set(n, i);
    if (cl.discovery !== undefined && list(cl.endpoints).length > 0) {
      ctx.addIssue({ code: 'custom', path: ['clusters', i, 'endpoints'], message: 'a cluster with discovery takes its endpoints from DNS: list no endpoints (or drop discovery)' });
    }
    const seen = new Set<string>();
    list(cl.endpoints).forEach((e, j) => {
      const key = `${String(e.address)}:${String(e.port)}`;
      if (seen.has(key)) ctx.addIssue({ code: 'custom', path: ['clusters', i, 'endpoints', j], message: `duplicate endpoint ${key}` });
      seen.add(key);
    });
  });
  const listenerNames = new Set<string>();
  const binds = new Map<string, number>();
  listeners.forEach((l, i) => {
    const n = String(l.name);
    if (listenerNames.has(n)) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'name'], message: `duplicate listener name "${n}"` });
    listenerNames.add(n);
    const address = typeof l.address === 'string' ? l.address : '127.0.0.1';
    const bind = `${l.protocol === 'udp' ? 'udp' : 'tcp'}:${address}:${String(l.port)}`;
    if (typeof l.port === 'number' && l.port !== 0 && binds.has(bind)) {
      ctx.addIssue({ code: 'custom', path: ['listeners', i, 'port'], message: `${address}:${l.port} is already used by listeners[${binds.get(bind)}]` });
    }
    binds.set(bind, i);
    const known = (v: unknown, path: PropertyKey[]) => {
      if (typeof v === 'string' && !clusterNames.has(v)) ctx.addIssue({ code: 'custom', path, message: `unknown cluster "${v}"` });
    };
    if (l.protocol === 'http') {
      if (l.codec === 'uws' && l.tls !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', i, 'codec'],
          message: 'uws cannot serve TLS here (this uWebSockets.js build has no client certificates, ALPN or minimum version): leave codec unset or use http1-strict',
        });
      }
      if (l.codec === 'h2c' && l.tls !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['listeners', i, 'codec'], message: 'h2c is HTTP/2 without TLS: on a TLS listener ALPN decides (tls.alpn: [h2, http/1.1]), so leave codec unset' });
      }
      list(l.routes).forEach((r, j) => {
        known(r.cluster, ['listeners', i, 'routes', j, 'cluster']);
        list(r.weighted_clusters).forEach((w, k) => known(w.cluster, ['listeners', i, 'routes', j, 'weighted_clusters', k, 'cluster']));
      });
    } else if (l.protocol === 'tcp') {
      const passthrough = l.tls_passthrough && typeof l.tls_passthrough === 'object' ? (l.tls_passthrough as Loose) : null;
      if (l.cluster === undefined && passthrough === null) {
        ctx.addIssue({ code: 'custom', path: ['listeners', i, 'cluster'], message: 'is required (or tls_passthrough instead)' });
      } else if (l.cluster !== undefined && passthrough !== null) {
        ctx.addIssue({ code: 'custom', path: ['listeners', i, 'cluster'], message: 'set exactly one of cluster, tls_passthrough' });
      }
      if (passthrough !== null && l.tls !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['listeners', i, 'tls'], message: 'a listener that passes TLS through cannot also terminate it' });
      }
      known(l.cluster, ['listeners', i, 'cluster']);
      if (passthrough !== null) {
        // The client's TLS goes through untouched: a cluster that originates TLS would wrap it in a second layer.
        const plain = (v: unknown, path: PropertyKey[]) => {
          known(v, path);
          const target = clusters.find((cl) => cl.name === v);
          if (target !== undefined && target.tls !== undefined) ctx.addIssue({ code: 'custom', path, message: `cluster "${String(v)}" has tls: a passthrough route sends the client's own TLS bytes, so its cluster must not add TLS` });
        };
        list(passthrough.routes).forEach((r, j) => plain(r.cluster, ['listeners', i, 'tls_passthrough', 'routes', j, 'cluster']));
        plain(passthrough.default_cluster, ['listeners', i, 'tls_passthrough', 'default_cluster']);
      }
    } else {
      known(l.cluster, ['listeners', i, 'cluster']);
      const target = typeof l.cluster === 'string' ? clusters[clusterNames.get(l.cluster) ?? -1] : undefined;
      if (target !== undefined && target.tls !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', i, 'cluster'],
          message: `cluster "${l.cluster}" has tls, which a udp listener cannot use (datagrams are proxied as they are; DTLS is not supported): use a cluster without tls`,
        });
      }
    }
    if (l.tracing !== undefined && c.tracing === undefined) {
      ctx.addIssue({ code: 'custom', path: ['listeners', i, 'tracing'], message: 'overrides the top-level tracing block, which is not set (tracing is off without it)' });
    }
    const tls = l.tls && typeof l.tls === 'object' ? (l.tls as Loose) : null;
    if (tls !== null) {
      const names = new Map<string, number>();
      list(tls.certificates).forEach((cert, j) => {
        for (const n of Array.isArray(cert.server_names) ? cert.server_names : []) {
          const key = String(n).toLowerCase();
          if (names.has(key)) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'tls', 'certificates', j, 'server_names'], message: `"${key}" is already served by certificates[${names.get(key)}]` });
          else names.set(key, j);
        }
      });
    }
  });
  const maxClusters = num(c.capacity?.max_clusters, CAPACITY_DEFAULTS.max_clusters);
  const maxListeners = num(c.capacity?.max_listeners, CAPACITY_DEFAULTS.max_listeners);
  const maxEndpoints = num(c.capacity?.max_endpoints, CAPACITY_DEFAULTS.max_endpoints);
  if (clusters.length > maxClusters) ctx.addIssue({ code: 'custom', path: ['clusters'], message: `has ${clusters.length} clusters, more than capacity.max_clusters (${maxClusters})` });
  if (listeners.length > maxListeners) ctx.addIssue({ code: 'custom', path: ['listeners'], message: `has ${listeners.length} listeners, more than capacity.max_listeners (${maxListeners})` });
  const endpoints = clusters.reduce((n, cl) => n + list(cl.endpoints).length, 0);
  if (endpoints > maxEndpoints) ctx.addIssue({ code: 'custom', path: ['clusters'], message: `has ${endpoints} endpoints, more than capacity.max_endpoints (${maxEndpoints})` });
  const maxRoutes = num(c.capacity?.max_routes, CAPACITY_DEFAULTS.max_routes);
  const routes = listeners.reduce((n, l) => n + (l.protocol === 'http' ? list(l.routes).length : 0), 0);
  if (routes > maxRoutes) ctx.addIssue({ code: 'custom', path: ['listeners'], message: `has ${routes} HTTP routes, more than capacity.max_routes (${maxRoutes})` });
}

export type ConfigInput = Zod.input<Schemas['config']>;
export type Config = Zod.output<Schemas['config']>;
export type ListenerConfig = Config['listeners'][number];
export type HttpListenerConfig = Extract<ListenerConfig, { protocol: 'http' }>;
export type TcpListenerConfig = Extract<ListenerConfig, { protocol: 'tcp' }>;
export type UdpListenerConfig = Extract<ListenerConfig, { protocol: 'udp' }>;
export type RouteConfig = HttpListenerConfig['routes'][number];
export type ClusterConfig = Config['clusters'][number];
export type EndpointConfig = ClusterConfig['endpoints'][number];
export type DiscoveryConfig = NonNullable<ClusterConfig['discovery']>;
export type FilterConfig = HttpListenerConfig['filters'][number];
export type LbConfig = ClusterConfig['lb'];
export type ListenerTlsConfig = NonNullable<HttpListenerConfig['tls']> | NonNullable<TcpListenerConfig['tls']>;
export type ClusterTlsConfig = NonNullable<ClusterConfig['tls']>;
export type TracingConfig = NonNullable<Config['tracing']>;
