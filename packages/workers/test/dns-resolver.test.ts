/**
 * Where the system resolver takes an answer from. No test here reaches a DNS server: the only
 * resolver configured is a closed port on loopback, and lookups (/etc/hosts) are injected.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SystemNameResolver, hostsFileNames } from '../src/supervisor/dns-resolver.js';
import { freePorts } from '../../../test/helpers/ports.js';

function hostsFile(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'pillion-hosts-')), 'hosts');
  writeFileSync(file, text);
  return file;
}

const both = async () => [
  { address: '::1', family: 6 },
  { address: '10.1.1.1', family: 4 },
  { address: '10.1.1.2', family: 4 },
];

describe('hosts file names', () => {
  it('lists every name of every line, ignoring comments and case', () => {
    expect([...hostsFileNames('127.0.0.1 localhost Box # a comment\n# 10.0.0.1 gone\n\n::1 ip6-localhost\n')].sort()).toEqual(['box', 'ip6-localhost', 'localhost']);
  });
});

describe('SystemNameResolver', () => {
  it('without resolvers, answers a name from the hosts file with lookup, by family, without TTL', async () => {
    const r = new SystemNameResolver({ timeoutMs: 200, tries: 1, hostsFile: hostsFile('10.1.1.1 svc.local\n'), lookup: both });
    expect(await r.addresses('svc.local', 'v4-preferred')).toEqual({ kind: 'ok', addresses: ['10.1.1.1', '10.1.1.2'] });
    expect(await r.addresses('SVC.local.', 'v6')).toEqual({ kind: 'ok', addresses: ['::1'] });
    expect(await r.addresses('svc.local', 'all')).toEqual({ kind: 'ok', addresses: ['10.1.1.1', '10.1.1.2', '::1'] });
  });

  it('with resolvers that cannot answer, falls back to lookup only for names in the hosts file', async () => {
    const [closed] = await freePorts(1);
    const r = new SystemNameResolver({ servers: [`127.0.0.1:${closed}`], timeoutMs: 200, tries: 1, hostsFile: hostsFile('10.1.1.1 svc.local\n'), lookup: both });
    expect(await r.addresses('svc.local', 'v4')).toEqual({ kind: 'ok', addresses: ['10.1.1.1', '10.1.1.2'] });
    const other = await r.addresses('other.local', 'v4');
    expect(other.kind).toBe('failure'); // the resolver's failure, not a lookup
    const srv = await r.srv('_http._tcp.other.local');
    expect(srv.kind).toBe('failure');
  });

  it('an empty lookup answer for the family asked is empty, and a lookup error is classified', async () => {
    const file = hostsFile('10.1.1.1 svc.local\n');
    const r = new SystemNameResolver({ timeoutMs: 200, tries: 1, hostsFile: file, lookup: async () => [{ address: '10.1.1.1', family: 4 }] });
    expect(await r.addresses('svc.local', 'v6')).toEqual({ kind: 'empty', reason: 'ENODATA' });
    const gone = new SystemNameResolver({ timeoutMs: 200, tries: 1, hostsFile: file, lookup: async () => Promise.reject(Object.assign(new Error('x'), { code: 'ENOTFOUND' })) });
    expect(await gone.addresses('svc.local', 'v4')).toEqual({ kind: 'empty', reason: 'ENOTFOUND' });
  });
});
