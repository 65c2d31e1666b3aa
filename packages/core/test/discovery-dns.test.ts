import { describe, expect, it } from 'vitest';
import {
  INITIAL_DNS_NAME_STATE,
  logicalDnsEndpoint,
  observeDnsOutcome,
  parseDiscoveryName,
  parseResolver,
  refreshDelay,
  srvEndpoints,
  strictDnsEndpoints,
  type DnsEndpoint,
  type DnsNameState,
  type DnsOutcome,
} from '../src/discovery/index.js';

const ep = (address: string, port = 80, extra: Partial<DnsEndpoint> = {}): DnsEndpoint => ({ address, port, weight: 1, priority: 0, hostname: 'api.test', ...extra });
const ok = (addresses: string[], ttl?: number): DnsOutcome => ({ kind: 'ok', endpoints: addresses.map((a) => ep(a)), ttl });
const EMPTY: DnsOutcome = { kind: 'empty', reason: 'ENOTFOUND' };
const fail = (reason = 'ETIMEOUT'): DnsOutcome => ({ kind: 'failure', reason });

describe('when a name is asked again: min(TTL, refresh), less jitter', () => {
  it.each([
    // refresh ms, respect_ttl, jitter %, outcome, random → delay ms
    { refresh: 5000, respect: true, jitter: 0, outcome: ok(['10.0.0.1'], 2), random: 0.5, delay: 2000 },
    { refresh: 5000, respect: true, jitter: 0, outcome: ok(['10.0.0.1'], 30), random: 0.5, delay: 5000 },
    { refresh: 5000, respect: false, jitter: 0, outcome: ok(['10.0.0.1'], 2), random: 0.5, delay: 5000 },
    { refresh: 5000, respect: true, jitter: 0, outcome: ok(['10.0.0.1'], 0), random: 0.5, delay: 5000 }, // TTL 0: refresh, never a storm
    { refresh: 5000, respect: true, jitter: 0, outcome: ok(['10.0.0.1']), random: 0.5, delay: 5000 }, // /etc/hosts: no TTL
    { refresh: 5000, respect: true, jitter: 10, outcome: ok(['10.0.0.1'], 2), random: 0, delay: 2000 }, // jitter bounds: (d - 10%, d]
    { refresh: 5000, respect: true, jitter: 10, outcome: ok(['10.0.0.1'], 2), random: 0.999999, delay: 1800 },
    { refresh: 5000, respect: true, jitter: 10, outcome: ok(['10.0.0.1'], 2), random: 0.5, delay: 1900 },
    { refresh: 5000, respect: true, jitter: 50, outcome: fail(), random: 0.5, delay: 3750 }, // a failure waits `refresh`
    { refresh: 5000, respect: true, jitter: 0, outcome: EMPTY, random: 0.5, delay: 5000 },
    { refresh: 1, respect: true, jitter: 50, outcome: EMPTY, random: 0.99, delay: 1 }, // never below 1 ms
  ])('refresh $refresh, respect_ttl $respect, jitter $jitter%, random $random → $delay ms', ({ refresh, respect, jitter, outcome, random, delay }) => {
    expect(refreshDelay({ refreshMs: refresh, respectTtl: respect, jitterPercent: jitter }, outcome, () => random)).toBe(delay);
  });

  it('stays within (delay x (1 - jitter), delay] for any random in [0, 1)', () => {
    for (let r = 0; r < 1; r += 0.001) {
      const d = refreshDelay({ refreshMs: 10_000, respectTtl: true, jitterPercent: 20 }, ok(['10.0.0.1'], 5), () => r);
      expect(d).toBeGreaterThan(4000);
      expect(d).toBeLessThanOrEqual(5000);
    }
  });
});

describe('what a sequence of answers does to a name', () => {
  type Row = { name: string; outcomes: DnsOutcome[]; endpoints: string[][]; events: (string | null)[]; changed: boolean[] };
  const rows: Row[] = [
    {
      name: 'answers replace the endpoints; the same answer in another order changes nothing',
      outcomes: [ok(['10.0.0.2', '10.0.0.1']), ok(['10.0.0.1', '10.0.0.2']), ok(['10.0.0.3'])],
      endpoints: [['10.0.0.1', '10.0.0.2'], ['10.0.0.1', '10.0.0.2'], ['10.0.0.3']],
      events: ['changed', null, 'changed'],
      changed: [true, false, true],
    },
    {
      name: 'a failure keeps the last good set, is reported once per reason, and recovery is reported',
      outcomes: [ok(['10.0.0.1']), fail(), fail(), fail('ESERVFAIL'), ok(['10.0.0.1'])],
      endpoints: [['10.0.0.1'], ['10.0.0.1'], ['10.0.0.1'], ['10.0.0.1'], ['10.0.0.1']],
      events: ['changed', 'failed', null, 'failed', 'recovered'],
      changed: [true, false, false, false, false],
    },
    {
      name: 'one empty answer keeps the endpoints, the second in a row empties the name',
      outcomes: [ok(['10.0.0.1']), EMPTY, EMPTY, EMPTY],
      endpoints: [['10.0.0.1'], ['10.0.0.1'], [], []],
      events: ['changed', 'empty-pending', 'emptied', null],
      changed: [true, false, true, false],
    },
    {
      name: 'an answer between two empty ones resets the count',
      outcomes: [ok(['10.0.0.1']), EMPTY, ok(['10.0.0.1']), EMPTY, ok(['10.0.0.2'])],
      endpoints: [['10.0.0.1'], ['10.0.0.1'], ['10.0.0.1'], ['10.0.0.1'], ['10.0.0.2']],
      events: ['changed', 'empty-pending', 'recovered', 'empty-pending', 'recovered'],
      changed: [true, false, false, false, true],
    },
    {
      name: 'a failure between two empty answers neither counts nor resets',
      outcomes: [ok(['10.0.0.1']), EMPTY, fail(), EMPTY],
      endpoints: [['10.0.0.1'], ['10.0.0.1'], ['10.0.0.1'], []],
      events: ['changed', 'empty-pending', 'failed', 'emptied'],
      changed: [true, false, false, true],
    },
    {
      name: 'a name with no endpoints yet stays empty on an empty answer, and a first failure is reported',
      outcomes: [EMPTY, fail(), ok(['10.0.0.1'])],
      endpoints: [[], [], ['10.0.0.1']],
      events: [null, 'failed', 'recovered'],
      changed: [false, false, true],
    },
  ];
  it.each(rows)('$name', ({ outcomes, endpoints, events, changed }) => {
    let state: DnsNameState = INITIAL_DNS_NAME_STATE;
    outcomes.forEach((o, i) => {
      const step = observeDnsOutcome(state, o);
      state = step.state;
      expect(state.endpoints.map((e) => e.address), `after answer ${i}`).toEqual(endpoints[i]);
      expect(step.event, `event of answer ${i}`).toBe(events[i]);
      expect(step.changed, `changed by answer ${i}`).toBe(changed[i]);
    });
  });

  it('says why the name is stale while it serves its last good set', () => {
    let s = observeDnsOutcome(INITIAL_DNS_NAME_STATE, ok(['10.0.0.1'])).state;
    s = observeDnsOutcome(s, fail('ECONNREFUSED')).state;
    expect(s.problem).toBe('ECONNREFUSED');
    s = observeDnsOutcome(s, ok(['10.0.0.1'])).state;
    expect(s.problem).toBeNull();
  });
});

describe('endpoints of an answer', () => {
  it('strict-dns: every address once, on the name port, sorted', () => {
    expect(strictDnsEndpoints('api.test', 8080, ['10.0.0.2', '10.0.0.1', '10.0.0.2'])).toEqual([
      { address: '10.0.0.1', port: 8080, weight: 1, priority: 0, hostname: 'api.test' },
      { address: '10.0.0.2', port: 8080, weight: 1, priority: 0, hostname: 'api.test' },
    ]);
  });

  it.each([
    { current: undefined, answer: ['10.0.0.3', '10.0.0.1'], chosen: '10.0.0.1' },
    { current: '10.0.0.3', answer: ['10.0.0.1', '10.0.0.3'], chosen: '10.0.0.3' }, // kept while still there
    { current: '10.0.0.9', answer: ['10.0.0.2', '10.0.0.1'], chosen: '10.0.0.1' },
  ])('logical-dns: one address ($current, answer $answer → $chosen)', ({ current, answer, chosen }) => {
    expect(logicalDnsEndpoint('api.test', 80, answer, current)).toEqual([{ address: chosen, port: 80, weight: 1, priority: 0, hostname: 'api.test' }]);
    expect(logicalDnsEndpoint('api.test', 80, [], current)).toEqual([]);
  });

  const addresses: Record<string, string[]> = { 'a.test': ['10.0.0.1'], 'b.test': ['10.0.0.2', '10.0.0.3'], 'c.test': [] };
  it.each([
    {
      name: 'port, weight and priority from each record; a target with two addresses gives two endpoints',
      records: [
        { name: 'a.test', port: 9001, priority: 0, weight: 10 },
        { name: 'b.test', port: 9002, priority: 1, weight: 20 },
      ],
      want: [
        ['10.0.0.1', 9001, 10, 0, 'a.test'],
        ['10.0.0.2', 9002, 20, 1, 'b.test'],
        ['10.0.0.3', 9002, 20, 1, 'b.test'],
      ],
    },
    {
      name: 'weights over 128 scale down in proportion; weight 0 becomes 1',
      records: [
        { name: 'a.test', port: 1, priority: 0, weight: 1000 },
        { name: 'b.test', port: 2, priority: 0, weight: 250 },
        { name: 'a.test', port: 3, priority: 0, weight: 0 },
      ],
      want: [
        ['10.0.0.1', 1, 128, 0, 'a.test'],
        ['10.0.0.1', 3, 1, 0, 'a.test'],
        ['10.0.0.2', 2, 32, 0, 'b.test'],
        ['10.0.0.3', 2, 32, 0, 'b.test'],
      ],
    },
    {
      name: 'a target without addresses gives nothing; one address:port under two records keeps the better priority',
      records: [
        { name: 'c.test', port: 1, priority: 0, weight: 5 },
        { name: 'a.test', port: 7, priority: 2, weight: 50 },
        { name: 'a.test', port: 7, priority: 1, weight: 5 },
      ],
      want: [['10.0.0.1', 7, 5, 1, 'a.test']],
    },
  ])('srv: $name', ({ records, want }) => {
    const got = srvEndpoints(records, (t) => addresses[t] ?? []);
    expect(got.map((e) => [e.address, e.port, e.weight, e.priority, e.hostname])).toEqual(want);
  });
});

describe('discovery names and resolvers', () => {
  it.each([
    { text: 'api.internal:8080', type: 'strict-dns', ok: { host: 'api.internal', port: 8080 } },
    { text: 'localhost:80', type: 'logical-dns', ok: { host: 'localhost', port: 80 } },
    { text: '_http._tcp.api.internal', type: 'srv', ok: { host: '_http._tcp.api.internal', port: 0 } },
    { text: 'api.internal', type: 'strict-dns', error: 'has no port' },
    { text: 'api.internal:0', type: 'strict-dns', error: 'port must be 1-65535' },
    { text: 'api.internal:70000', type: 'strict-dns', error: 'port must be 1-65535' },
    { text: '10.0.0.1:80', type: 'strict-dns', error: 'is an IP address' },
    { text: 'bad name:80', type: 'strict-dns', error: 'is not a DNS name' },
    { text: '_http._tcp.api.internal:80', type: 'srv', error: 'has a port' },
    { text: 'a..b', type: 'srv', error: 'is not a DNS name' },
  ] as const)('$type "$text"', (row) => {
    const r = parseDiscoveryName(row.text, row.type);
    if ('ok' in row) expect(r).toEqual({ ok: true, value: row.ok });
    else expect(r.ok ? '' : r.message).toContain(row.error);
  });

  it.each([
    ['127.0.0.1:5353', '127.0.0.1:5353'],
    ['10.0.0.2', '10.0.0.2:53'],
    ['[::1]:5353', '[::1]:5353'],
    ['::1', '[::1]:53'],
    ['dns.internal:53', undefined],
    ['127.0.0.1:0', undefined],
    ['127.0.0.1:x', undefined],
    ['[10.0.0.1]:53', undefined],
  ])('resolver %s → %s', (text, want) => {
    const r = parseResolver(text);
    expect(r.ok ? r.value : undefined).toBe(want);
  });
});
