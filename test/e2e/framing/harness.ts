/**
 * Shared by the framing suites: one Pillion per codec/worker combination in front of a recording
 * upstream, a raw client that sends exact bytes (optionally split across writes) and parses the
 * responses it gets back, and the checks every case shares (what a refusal must look like, what the
 * upstream may have received).
 */
import { createConnection } from 'node:net';
import { simpleConfig } from '../../helpers/configs.js';
import { startPillion, type PillionProcess } from '../../helpers/pillion.js';
import { freePorts } from '../../helpers/ports.js';
import { startRecordingUpstream, type RecordedRequest, type RecordingUpstream } from '../../helpers/recording-upstream.js';

export type Codec = 'uws' | 'http1-strict';

export const COMBOS: { codec: Codec; workers: number }[] = [
  { codec: 'uws', workers: 1 },
  { codec: 'uws', workers: 2 },
  { codec: 'http1-strict', workers: 1 },
  { codec: 'http1-strict', workers: 2 },
];

/** How long a client waits for an answer (and for the close after it) before it gives up. */
export const WINDOW_MS = 2000;
/** http1-strict must answer every malformed request well within WINDOW_MS. */
export const PROMPT_MS = 1000;
/**
 * The rig's timeouts.header_read: a request line with no version (HTTP/0.9 style) is, to llhttp, an
 * unfinished HTTP/1.x head, so http1-strict answers it 408 when this runs out.
 */
export const HEADER_READ_MS = 600;

export interface Rig {
  pillion: PillionProcess;
  upstream: RecordingUpstream;
  port: number;
  stop(): Promise<void>;
}

export async function startRig(codec: Codec, workers: number): Promise<Rig> {
  const upstream = await startRecordingUpstream();
  const [listen, admin] = await freePorts(2);
  let pillion: PillionProcess;
  try {
    pillion = await startPillion(simpleConfig({ listen: listen!, admin: admin!, upstreams: [upstream.port], workers, listener: { codec, timeouts: { header_read: HEADER_READ_MS } } }));
  } catch (e) {
    await upstream.close();
    throw e;
  }
  return {
    pillion,
    upstream,
    port: listen!,
    async stop() {
      // A drain waits for exchanges in flight; give it a bounded time, then kill.
      const killer = setTimeout(() => pillion.child.kill('SIGKILL'), 10_000);
      await pillion.stop();
      clearTimeout(killer);
      await upstream.close();
    },
  };
}

// ------------------------------------------------------------------ responses

export interface ParsedResponse {
  status: number;
  headers: [string, string][];
  body: Buffer;
  /** The head as received, latin1. */
  head: string;
  header(name: string): string | undefined;
}

export interface ResponseParse {
  responses: ParsedResponse[];
  /** Bytes after the last complete response. */
  rest: number;
  /** Set when the bytes are not HTTP responses at all. */
  error: string | null;
}

/** Parses consecutive responses; a response without a length runs to the end when `atEnd`. */
export function parseResponses(buf: Buffer, atEnd: boolean): ResponseParse {
  const responses: ParsedResponse[] = [];
  let pos = 0;
  for (;;) {
    if (pos >= buf.length) return { responses, rest: 0, error: null };
    const headEnd = buf.indexOf('\r\n\r\n', pos, 'latin1');
    if (headEnd === -1) return { responses, rest: buf.length - pos, error: null };
    const head = buf.toString('latin1', pos, headEnd + 4);
    const lines = head.slice(0, -4).split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]!);
    if (!m) return { responses, rest: buf.length - pos, error: `bad status line ${JSON.stringify(lines[0])}` };
    const headers: [string, string][] = [];
    for (const l of lines.slice(1)) {
      const c = l.indexOf(':');
      if (c <= 0) return { responses, rest: buf.length - pos, error: `bad field line ${JSON.stringify(l)}` };
      headers.push([l.slice(0, c), l.slice(c + 1).trim()]);
    }
    const get = (name: string) => headers.find(([k]) => k.toLowerCase() === name)?.[1];
    const status = Number(m[1]);
    let p = headEnd + 4;
    let body: Buffer;
    const te = get('transfer-encoding');
    const cl = get('content-length');
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) body = Buffer.alloc(0);
    else if (te && /chunked/i.test(te)) {
      const parts: Buffer[] = [];
      for (;;) {
        const le = buf.indexOf('\r\n', p, 'latin1');
        if (le === -1) return { responses, rest: buf.length - pos, error: null };
        const size = parseInt(buf.toString('latin1', p, le), 16);
        if (Number.isNaN(size)) return { responses, rest: buf.length - pos, error: 'bad chunk size in response' };
        p = le + 2;
        if (size === 0) {
          const te2 = buf.indexOf('\r\n\r\n', p - 2, 'latin1');
          if (te2 === -1) return { responses, rest: buf.length - pos, error: null };
          p = te2 + 4;
          break;
        }
        if (buf.length < p + size + 2) return { responses, rest: buf.length - pos, error: null };
        parts.push(buf.subarray(p, p + size));
        p += size + 2;
      }
      body = Buffer.concat(parts);
    } else if (cl !== undefined) {
      const n = Number(cl);
      if (buf.length < p + n) return { responses, rest: buf.length - pos, error: null };
      body = buf.subarray(p, p + n);
      p += n;
    } else {
      if (!atEnd) return { responses, rest: buf.length - pos, error: null };
      body = buf.subarray(p);
      p = buf.length;
    }
    responses.push({ status, headers, body, head, header: (n) => get(n.toLowerCase()) });
    pos = p;
  }
}

export function wantsClose(r: ParsedResponse): boolean {
  return /(^|,)\s*close\s*(,|$)/i.test(r.header('connection') ?? '');
}

/** An answer the proxy made itself (every local reply carries `server: pillion`). */
export function isProxyReply(r: ParsedResponse): boolean {
  return r.header('server') === 'pillion' && !isRelayed(r);
}

/** An answer the recording upstream made (to a request, or to bytes it could not parse), relayed. */
export function isRelayed(r: ParsedResponse): boolean {
  return r.header('x-recorded-request') !== undefined || r.header('x-recorded-error') !== undefined;
}

// ------------------------------------------------------------------ client

export interface Exchange {
  responses: ParsedResponse[];
  /** Everything received, latin1. */
  text: string;
  parseError: string | null;
  /** The proxy closed (FIN or reset) before we gave up. */
  closedByPeer: boolean;
  /** ms from the last write to the first response byte; null when none came. */
  firstByteMs: number | null;
  /** ms from the last write to the peer's close; null when it did not close. */
  closeMs: number | null;
  /** We stopped waiting at the window's end. */
  timedOut: boolean;
}

export interface SendOptions {
  windowMs?: number;
  /** Stop as soon as this many complete responses arrived (none asked connection: close). */
  expectResponses?: number;
}

/**
 * Sends `parts` on one new connection, each part a separate write: with several parts, Nagle is off
 * and each write waits for the previous one's callback plus a turn of the timer queue, so the proxy
 * reads them apart. Reads until the proxy closes, `expectResponses` complete responses arrived, or
 * the window ends.
 */
export function send(port: number, parts: (string | Buffer)[], opts: SendOptions = {}): Promise<Exchange> {
  const windowMs = opts.windowMs ?? WINDOW_MS;
  return new Promise((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1', noDelay: true });
    const chunks: Buffer[] = [];
    let lastWrite = 0;
    let firstByteMs: number | null = null;
    let closeMs: number | null = null;
    let closedByPeer = false;
    let timedOut = false;
    let timer: NodeJS.Timeout | null = null;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      const buf = Buffer.concat(chunks);
      const p = parseResponses(buf, closedByPeer);
      resolve({ responses: p.responses, text: buf.toString('latin1'), parseError: p.error, closedByPeer, firstByteMs, closeMs, timedOut });
    };
    s.on('error', () => {});
    s.on('connect', async () => {
      timer = setTimeout(() => {
        timedOut = true;
        s.destroy();
      }, windowMs);
      for (let i = 0; i < parts.length; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 2));
        if (s.destroyed) return;
        await new Promise<void>((r) => s.write(parts[i]!, () => r()));
      }
      lastWrite = performance.now();
    });
    s.on('data', (d: Buffer) => {
      if (firstByteMs === null) firstByteMs = performance.now() - (lastWrite || performance.now());
      chunks.push(d);
      if (opts.expectResponses !== undefined) {
        const p = parseResponses(Buffer.concat(chunks), false);
        if (p.responses.length >= opts.expectResponses && p.rest === 0 && !p.responses.some(wantsClose)) s.destroy();
      }
    });
    s.on('end', () => {
      closedByPeer = true;
      closeMs = performance.now() - (lastWrite || performance.now());
      s.destroy();
    });
    s.on('close', (hadError) => {
      if (hadError && !timedOut && closeMs === null) {
        closedByPeer = true;
        closeMs = performance.now() - (lastWrite || performance.now());
      }
      finish();
    });
  });
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T, R>(items: T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

/**
 * Waits until the proxy has served `n` fresh connections end to end: anything it was still forwarding
 * from earlier cases (a smuggled request after a refusal) has reached the upstream by then.
 */
export async function barrier(rig: Rig, n = 6): Promise<void> {
  await pool(Array.from({ length: n }, (_, i) => i), n, async (i) => {
    const r = await send(rig.port, [`GET /barrier/${i} HTTP/1.1\r\nHost: a\r\n\r\n`], { expectResponses: 1 });
    if (r.responses[0]?.status !== 200) throw new Error(`barrier request failed: ${JSON.stringify(r.text.slice(0, 200))}`);
  });
}

// ------------------------------------------------------------------ checks

/** Why a forwarded request is not a clean re-serialisation; empty when it is. */
export function uncleanReasons(up: RecordingUpstream, r: RecordedRequest): string[] {
  const out = [...r.problems];
  const names = r.headers.map(([k]) => k.toLowerCase());
  if (r.version !== 'HTTP/1.1') out.push(`forwarded as ${r.version}`);
  if (names.filter((n) => n === 'content-length').length > 1) out.push('several content-length');
  if (names.includes('content-length') && names.includes('transfer-encoding')) out.push('content-length and transfer-encoding');
  const te = up.header(r, 'transfer-encoding');
  if (te !== undefined && te !== 'chunked') out.push(`transfer-encoding ${JSON.stringify(te)}`);
  if (r.framing === 'length' && Number(up.header(r, 'content-length')) !== r.body.length) out.push('content-length differs from body');
  // Servers that map '_' to '-' in field names (CGI, WSGI, some frameworks) would see framing here.
  for (const n of names) {
    if (n.includes('_') && (n.replace(/_/g, '-') === 'transfer-encoding' || n.replace(/_/g, '-') === 'content-length')) out.push(`forwarded "${n}", which CGI-style servers read as ${n.replace(/_/g, '-')}`);
  }
  return out;
}

/** The fields that must hold for any reply the proxy itself makes to a request it refuses. */
export function refusalProblems(x: Exchange): string[] {
  const out: string[] = [];
  const r = x.responses[0];
  if (!r) return ['no reply'];
  if (r.status < 400) out.push(`status ${r.status}, expected 4xx/5xx`);
  if (!wantsClose(r)) out.push(`no "connection: close" in ${JSON.stringify(r.head)}`);
  if (!x.closedByPeer) out.push('connection left open after the refusal');
  if (x.responses.length > 1) out.push(`${x.responses.length - 1} more response(s) after the refusal`);
  return out;
}

/** A short printable form of bytes for failure messages. */
export function show(s: string | Buffer, max = 160): string {
  const t = typeof s === 'string' ? s : s.toString('latin1');
  return JSON.stringify(t.length > max ? `${t.slice(0, max)}...` : t);
}
