/**
 * A small framing fuzzer through the whole proxy, per codec and worker count:
 *
 * (a) mutations: valid requests (GET, POST with Content-Length, POST chunked) with one byte flipped
 *     to an interesting byte, deleted or duplicated (a seeded mulberry32 picks which), each followed in
 *     the same write by a pipelined sentinel `GET <case>/sentinel`. The same bytes are parsed by a strict
 *     RFC 9112 oracle (the recording upstream's parser). Asserted: the upstream never receives bytes it
 *     cannot parse strictly nor an unclean request; a forwarded request the oracle understood carries
 *     the oracle's method, target and body (a different one means the proxy framed it differently: the
 *     root of smuggling); after a refusal, or a request that was not forwarded, nothing of the case is
 *     (no sentinel); every answer the proxy makes itself is a 4xx/5xx with `connection: close` and a
 *     close; on http1-strict, a request the oracle calls malformed gets an answer within PROMPT_MS.
 * (b) splits: every valid request split at every byte boundary across two writes (and, on
 *     http1-strict, a pipelined pair) is forwarded exactly once, intact, and answered.
 *
 * `PILLION_FUZZ=N` runs N mutations per combination (default 200); `PILLION_FUZZ_SEED` changes the seed.
 */
import { seeded } from '../../../packages/core/test/lb-fixtures.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StrictError, parseStrictRequest, type RecordedRequest } from '../../helpers/recording-upstream.js';
import {
  COMBOS,
  PROMPT_MS,
  barrier,
  isProxyReply,
  isRelayed,
  pool,
  refusalProblems,
  send,
  show,
  startRig,
  uncleanReasons,
  type Exchange,
  type Rig,
} from './harness.js';

const MUTATIONS = Number(process.env.PILLION_FUZZ ?? 200);
const SEED = Number(process.env.PILLION_FUZZ_SEED ?? 0x5eed1);
const CONCURRENCY = 200;

/** mulberry32, the seeded PRNG the load-balancing tests use. */
const mulberry32 = seeded;

const INTERESTING = [0x0d, 0x0a, 0x00, 0x09, 0x20, 0x3a, 0x2c, 0x7f, 0x80, 0x2d, 0x2b];

/** Case tags: five lower-case letters, so a deleted, duplicated or flipped letter never names another case. */
function tagOf(n: number): string {
  let t = '';
  for (let i = 0; i < 5; i++) {
    t = String.fromCharCode(0x61 + (n % 26)) + t;
    n = Math.floor(n / 26);
  }
  return t;
}

interface Base {
  name: string;
  bytes: (tag: string) => string;
  method: string;
  target: (tag: string) => string;
  body: string;
}

const BASES: Base[] = [
  {
    name: 'GET',
    bytes: (t) => `GET /f/${t}/m?q=1 HTTP/1.1\r\nHost: a\r\nx-case: ${t}\r\nAccept: */*\r\n\r\n`,
    method: 'GET',
    target: (t) => `/f/${t}/m?q=1`,
    body: '',
  },
  {
    name: 'POST length',
    bytes: (t) => `POST /f/${t}/m HTTP/1.1\r\nHost: a\r\nx-case: ${t}\r\nContent-Length: 5\r\n\r\nhello`,
    method: 'POST',
    target: (t) => `/f/${t}/m`,
    body: 'hello',
  },
  {
    name: 'POST chunked',
    bytes: (t) => `POST /f/${t}/m HTTP/1.1\r\nHost: a\r\nx-case: ${t}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\na\r\n0123456789\r\n0\r\n\r\n`,
    method: 'POST',
    target: (t) => `/f/${t}/m`,
    body: 'hello0123456789',
  },
];

const sentinel = (t: string) => `GET /f/${t}/sentinel HTTP/1.1\r\nHost: a\r\nx-case: ${t}\r\n\r\n`;

interface Mutation {
  tag: string;
  base: Base;
  /** What was done, for failure messages. */
  op: string;
  bytes: Buffer;
}

function mutations(n: number, seed: number): Mutation[] {
  const rnd = mulberry32(seed);
  const out: Mutation[] = [];
  for (let i = 0; i < n; i++) {
    const tag = tagOf(i);
    const base = BASES[i % BASES.length]!;
    const b = Buffer.from(base.bytes(tag), 'latin1');
    const pos = Math.floor(rnd() * b.length);
    const kind = Math.floor(rnd() * 3);
    let bytes: Buffer;
    let op: string;
    if (kind === 0) {
      let to = INTERESTING[Math.floor(rnd() * INTERESTING.length)]!;
      if (to === b[pos]) to = INTERESTING[(INTERESTING.indexOf(to) + 1) % INTERESTING.length]!;
      bytes = Buffer.from(b);
      bytes[pos] = to;
      op = `flip @${pos} ${show(b.subarray(pos, pos + 1))} -> 0x${to.toString(16)}`;
    } else if (kind === 1) {
      bytes = Buffer.concat([b.subarray(0, pos), b.subarray(pos + 1)]);
      op = `delete @${pos} ${show(b.subarray(pos, pos + 1))}`;
    } else {
      bytes = Buffer.concat([b.subarray(0, pos + 1), b.subarray(pos)]);
      op = `duplicate @${pos} ${show(b.subarray(pos, pos + 1))}`;
    }
    out.push({ tag, base, op: `${base.name}: ${op}`, bytes });
  }
  return out;
}

/** The same mutation with another tag (tags have a fixed length, so offsets stay put). */
function retag(m: Mutation, tag: string): Buffer {
  const b = Buffer.from(m.bytes);
  for (let i = b.indexOf(m.tag, 0, 'latin1'); i !== -1; i = b.indexOf(m.tag, i + 1, 'latin1')) b.write(tag, i, 'latin1');
  return b;
}

type OracleRequest = Omit<RecordedRequest, 'index' | 'connection'>;

interface OracleReading {
  /** The requests it finds, in order. */
  requests: OracleRequest[];
  /** Why it stopped after them. */
  end: 'complete' | 'malformed' | 'incomplete';
  reason: string;
}

/** The strict reading of the bytes. */
function oracle(bytes: Buffer): OracleReading {
  const requests: OracleRequest[] = [];
  let rest = bytes;
  try {
    while (rest.length > 0) {
      const p = parseStrictRequest(rest);
      if (!p) return { requests, end: 'incomplete', reason: '' };
      // Legal-looking but refusable (no Host, two Host): a proxy must refuse these, so the oracle does.
      if (p.request.problems.length) return { requests, end: 'malformed', reason: p.request.problems.join('; ') };
      requests.push(p.request);
      rest = rest.subarray(p.consumed);
    }
  } catch (e) {
    if (!(e instanceof StrictError)) throw e;
    return { requests, end: 'malformed', reason: e.message };
  }
  return { requests, end: 'complete', reason: '' };
}

const mine = (rig: Rig, tag: string) =>
  rig.upstream.requests.filter((r) => r.target.includes(`/f/${tag}/`) || rig.upstream.header(r, 'x-case') === tag);

interface Tally {
  cases: number;
  refused: number;
  forwardedClean: number;
  forwardedLenient: number;
  noReply: number;
  failures: string[];
  /** A few of the lenient forwards, to show in the summary. */
  lenientExamples: string[];
  /** Failures by kind (their text up to the first quoted detail), for the summary. */
  kinds: Map<string, number>;
}

/** The bytes a mutation case sends: the mutated request, followed by the sentinel when pipelined. */
const wire = (m: Mutation, pipelined: boolean) => (pipelined ? Buffer.concat([m.bytes, Buffer.from(sentinel(m.tag), 'latin1')]) : m.bytes);

function judgeMutation(m: Mutation, pipelined: boolean, x: Exchange, rig: Rig, strict: boolean, t: Tally): void {
  const fail = (why: string) => {
    const k = `${m.base.name}: ${why.replace(/[:,]? *\(?["\d].*$/, '')}`;
    t.kinds.set(k, (t.kinds.get(k) ?? 0) + 1);
    t.failures.push(`[${m.tag}] ${m.op}: ${why}\n    sent ${show(m.bytes, 300)}\n    got  ${show(x.text, 300)}`);
  };
  const up = rig.upstream;
  const o = oracle(wire(m, pipelined));
  const got = mine(rig, m.tag);
  const sentinelTarget = `/f/${m.tag}/sentinel`;
  const sent = got.filter((r) => r.target === sentinelTarget);
  const first = got.filter((r) => r.target !== sentinelTarget);
  for (const e of up.errors) if (e.text.includes(`/f/${m.tag}/`) || e.text.includes(`x-case: ${m.tag}\r`)) fail(`upstream could not parse what the proxy sent (${e.error})`);
  for (const r of got) {
    const why = uncleanReasons(up, r);
    if (why.length) fail(`forwarded request not clean: ${why.join('; ')}: ${show(r.raw)}`);
  }
  if (x.parseError) fail(`client could not parse the answer: ${x.parseError}`);
  let lenient = false;
  for (const r of got) {
    const same = o.requests.find((q) => q.method === r.method && q.target === r.target && q.body.equals(r.body));
    if (same) continue;
    const sameTarget = o.requests.find((q) => q.target === r.target);
    if (sameTarget) fail(`framed differently from the oracle: forwarded ${r.method} ${r.target} body ${show(r.body)}, oracle ${sameTarget.method} body ${show(sameTarget.body)}`);
    else if (o.end === 'complete') fail(`forwarded a request the oracle does not see: ${show(r.raw)}`);
    // The proxy took a body whose chunked framing is broken: it decided where that body ends
    // differently from any strict reader, which is what smuggling is made of.
    // On uws that decision is uWS's own chunked parser, which hands Pillion only the decoded body
    // (docs/http1-limits.md); Pillion re-frames it, so the upstream still reads one clean request.
    else if (o.requests.length === 0 && o.reason.startsWith('chunked body')) {
      if (strict) fail(`forwarded a request whose ${o.reason}, with body ${show(r.body)}`);
      else lenient = true;
    }
    else lenient = true; // accepted a head the oracle refuses, and re-serialised it cleanly
  }
  if (first.length > 1) fail(`the mutated request reached the upstream ${first.length} times`);
  if (sent.length > 1) fail('the sentinel reached the upstream more than once');
  if (sent.length && !first.length) fail('the sentinel reached the upstream although the request before it was not forwarded');
  for (const s of sent) if (s.method !== 'GET' || s.body.length) fail(`sentinel forwarded altered: ${show(s.raw)}`);

  t.cases++;
  const r0 = x.responses[0];
  if (r0 && isProxyReply(r0) && r0.status >= 400) {
    t.refused++;
    for (const p of refusalProblems(x)) fail(p);
    if (got.length) fail(`forwarded after a refusal: ${got.map((r) => show(r.raw, 80)).join(', ')}`);
    if (strict && (x.firstByteMs ?? Infinity) > PROMPT_MS) fail(`refusal took ${x.firstByteMs} ms`);
  } else if (r0 && r0.header('x-recorded-request') !== undefined) {
    if (lenient) {
      t.forwardedLenient++;
      if (t.lenientExamples.length < 4) t.lenientExamples.push(`${m.op} (oracle: ${o.reason}) -> ${first.map((r) => `${r.method} ${r.target} body ${show(r.body)}`).join(', ')}`);
    } else t.forwardedClean++;
    if (!got.some((r) => String(r.index) === r0.header('x-recorded-request'))) fail('first answer is not the answer to this case\'s request');
  } else if (r0 && isRelayed(r0)) {
    fail('the upstream refused what the proxy sent (relayed its 400)');
  } else if (r0) {
    fail(`unexpected answer ${show(r0.head)}`);
  } else {
    t.noReply++;
    // A request still waiting for bytes (the mutation lengthened a body or broke the head's end) is
    // rightly unanswered; on uws, its parser drops some malformed requests and a pipelined request
    // closes the connection.
    const firstIncomplete = o.requests.length === 0 && o.end === 'incomplete';
    if (strict && !firstIncomplete) fail(`no reply within the window (oracle: ${o.requests.length} request(s) then ${o.end})`);
  }
}

describe.each(COMBOS)('framing fuzz: codec $codec, $workers worker(s)', ({ codec, workers }) => {
  let rig: Rig;
  const strict = codec === 'http1-strict';

  beforeAll(async () => {
    rig = await startRig(codec, workers);
  });

  afterAll(async () => {
    await rig?.stop();
  });

  // pipelined: each mutated request is followed in the same write by the sentinel. alone: the mutated
  // request by itself, which shows the proxy's verdict on uws (where a pipelined follower mostly closes
  // the connection before any answer).
  it.each([
    ['with a pipelined sentinel', true],
    ['alone', false],
  ] as const)(`${MUTATIONS} one-byte mutations, %s: nothing unclean or smuggled reaches the upstream`, async (label, pipelined) => {
    // Tags differ between the two runs: the pipelined run's cases come first.
    const ms = mutations(MUTATIONS, SEED).map((m, i) => (pipelined ? m : { ...m, tag: tagOf(50_000 + i), bytes: retag(m, tagOf(50_000 + i)) }));
    const t: Tally = { cases: 0, refused: 0, forwardedClean: 0, forwardedLenient: 0, noReply: 0, failures: [], lenientExamples: [], kinds: new Map() };
    const exchanges = await pool(ms, CONCURRENCY, (m) => send(rig.port, [wire(m, pipelined)], { expectResponses: pipelined ? 2 : 1 }));
    await barrier(rig);
    ms.forEach((m, i) => judgeMutation(m, pipelined, exchanges[i]!, rig, strict, t));
    console.log(
      `[fuzz ${codec} x${workers}, ${label}] seed ${SEED}: ${t.cases} mutations run, ${t.refused} refused by the proxy, ` +
        `${t.forwardedClean} forwarded clean, ${t.forwardedLenient} forwarded although the oracle refuses them (re-serialised cleanly), ` +
        `${t.noReply} without a reply; ${t.failures.length} failure(s)` +
        t.lenientExamples.map((e) => `\n  lenient: ${e}`).join('') +
        [...t.kinds].map(([k, n]) => `\n  failed ${n}x: ${k}`).join(''),
    );
    expect(t.failures.slice(0, 15), `${t.failures.length} failure(s), first 15 shown`).toEqual([]);
  }, 60_000 + MUTATIONS * 30);

  it('every valid request split at every byte boundary across two writes is forwarded once, intact, and answered', async () => {
    const cases = BASES.flatMap((b, bi) => {
      const len = b.bytes('aaaaa').length;
      return Array.from({ length: len - 1 }, (_, k) => ({ base: b, at: k + 1, tag: tagOf(100_000 + bi * 1000 + k) }));
    });
    const results = await pool(cases, 64, ({ base, at, tag }) => {
      const bytes = Buffer.from(base.bytes(tag), 'latin1');
      return send(rig.port, [bytes.subarray(0, at), bytes.subarray(at)], { expectResponses: 1 });
    });
    const failures: string[] = [];
    cases.forEach(({ base, at, tag }, i) => {
      const x = results[i]!;
      const got = mine(rig, tag);
      const why: string[] = [];
      if (got.length !== 1) why.push(`upstream saw ${got.length} requests`);
      const r = got[0];
      if (r) {
        if (r.method !== base.method || r.target !== base.target(tag) || r.body.toString('latin1') !== base.body) why.push(`forwarded ${r.method} ${r.target} body ${show(r.body)}`);
        why.push(...uncleanReasons(rig.upstream, r));
      }
      const r0 = x.responses[0];
      if (!r0 || r0.status !== 200 || (r && r0.header('x-recorded-request') !== String(r.index))) why.push(`answer ${show(x.text, 200)}`);
      if (why.length) failures.push(`${base.name} split at ${at}: ${why.join('; ')}`);
    });
    console.log(`[split ${codec} x${workers}] ${cases.length} split requests, ${failures.length} failure(s)`);
    expect(failures.slice(0, 15), `${failures.length} failure(s), first 15 shown`).toEqual([]);
  }, 60_000);

  // uws closes a connection that pipelines (see the README), so only http1-strict has this behaviour.
  if (strict) it('a pipelined pair split at every byte boundary is forwarded in order and answered in order', async () => {
    const pair = (t: string) => BASES[1]!.bytes(t) + BASES[0]!.bytes(t);
    const len = pair('aaaaa').length;
    const cases = Array.from({ length: len - 1 }, (_, k) => ({ at: k + 1, tag: tagOf(200_000 + k) }));
    const results = await pool(cases, 64, ({ at, tag }) => {
      const bytes = Buffer.from(pair(tag), 'latin1');
      return send(rig.port, [bytes.subarray(0, at), bytes.subarray(at)], { expectResponses: 2 });
    });
    const failures: string[] = [];
    cases.forEach(({ at, tag }, i) => {
      const x = results[i]!;
      const got = mine(rig, tag);
      const why: string[] = [];
      const post = got.filter((r) => r.method === 'POST');
      const get = got.filter((r) => r.method === 'GET');
      if (got.length !== 2 || post.length !== 1 || get.length !== 1) why.push(`upstream saw ${got.map((r) => `${r.method} ${r.target}`).join(', ') || 'nothing'}`);
      else {
        if (post[0]!.target !== BASES[1]!.target(tag) || post[0]!.body.toString('latin1') !== BASES[1]!.body) why.push(`POST forwarded as ${show(post[0]!.raw)}`);
        if (get[0]!.target !== BASES[0]!.target(tag) || get[0]!.body.length) why.push(`GET forwarded as ${show(get[0]!.raw)}`);
        if (post[0]!.index > get[0]!.index) why.push('forwarded out of order');
        const answers = x.responses.map((r) => r.header('x-recorded-request'));
        if (answers.length !== 2 || answers[0] !== String(post[0]!.index) || answers[1] !== String(get[0]!.index)) why.push(`answers ${show(x.text, 300)}`);
      }
      for (const r of got) why.push(...uncleanReasons(rig.upstream, r));
      if (why.length) failures.push(`pair split at ${at}: ${why.join('; ')}`);
    });
    console.log(`[split ${codec} x${workers}] ${cases.length} split pipelined pairs, ${failures.length} failure(s)`);
    expect(failures.slice(0, 15), `${failures.length} failure(s), first 15 shown`).toEqual([]);
  }, 60_000);
});
