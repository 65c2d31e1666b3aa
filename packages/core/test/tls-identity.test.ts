import { describe, expect, it } from 'vitest';
import { HeaderList } from '../src/http/header-list.js';
import { applyXfcc, identityOf, parseSubjectAltName, sanMatches, sansAllowed, subjectField, xfccElement, type PeerIdentity } from '../src/tls/index.js';

const web = identityOf({
  subjectAltName: 'URI:spiffe://cluster.local/ns/default/sa/web, DNS:web.default.svc, DNS:web',
  subject: 'C=US\nO=Example\nCN=web',
  fingerprint256: 'AB:CD:01:23',
});

describe('identityOf', () => {
  it('reads the SANs, subject, CN and hash', () => {
    expect(web).toEqual({
      uriSans: ['spiffe://cluster.local/ns/default/sa/web'],
      dnsSans: ['web.default.svc', 'web'],
      subject: 'C=US\nO=Example\nCN=web',
      commonName: 'web',
      hash: 'abcd0123',
      name: 'spiffe://cluster.local/ns/default/sa/web',
    });
  });

  it('names a peer by its first URI SAN, else its first DNS SAN, else its CN', () => {
    expect(identityOf({ subjectAltName: 'DNS:a.example, DNS:b.example', subject: 'CN=x', fingerprint256: '00' }).name).toBe('a.example');
    expect(identityOf({ subjectAltName: undefined, subject: 'O=y\nCN=only-cn', fingerprint256: '00' }).name).toBe('only-cn');
    expect(identityOf({ subject: 'O=y', fingerprint256: '00' }).name).toBe('');
  });
});

describe('parseSubjectAltName', () => {
  it('splits kinds, keeps order, and reads quoted values exactly', () => {
    expect(parseSubjectAltName('DNS:a.example, IP Address:10.0.0.1, URI:"spiffe://td/a,b", URI:spiffe://td/c, email:x@y')).toEqual({
      dns: ['a.example'],
      ip: ['10.0.0.1'],
      uri: ['spiffe://td/a,b', 'spiffe://td/c'],
    });
    expect(parseSubjectAltName('URI:"spiffe://td/q\\"uote"')).toEqual({ dns: [], ip: [], uri: ['spiffe://td/q"uote'] });
    expect(parseSubjectAltName('')).toEqual({ dns: [], ip: [], uri: [] });
  });

  it('reads subject fields', () => {
    expect(subjectField('C=US\nO=Example\nCN=web', 'O')).toBe('Example');
    expect(subjectField('C=US', 'CN')).toBe('');
  });
});

describe('allowed_sans', () => {
  it.each([
    ['spiffe://cluster.local/ns/default/sa/web', true],
    ['spiffe://cluster.local/ns/default/sa/*', true],
    ['spiffe://cluster.local/ns/default/*', true],
    ['spiffe://cluster.local/ns/other/*', false],
    ['spiffe://cluster.local/ns/default/sa/we', false],
    ['web.default.svc', true],
    ['*', true],
  ])('%s: %s', (pattern, expected) => {
    expect(sansAllowed([pattern], web)).toBe(expected);
  });

  it('matches exact or by prefix before a trailing *', () => {
    expect(sanMatches('a*', 'abc')).toBe(true);
    expect(sanMatches('a*', 'ba')).toBe(false);
    expect(sanMatches('abc', 'abcd')).toBe(false);
    expect(sansAllowed([], web)).toBe(false);
  });
});

describe('x-forwarded-client-cert', () => {
  const by = 'spiffe://cluster.local/ns/default/sa/proxy';
  const mine = `By=${by};Hash=abcd0123;Subject="CN=web,O=Example,C=US";URI=spiffe://cluster.local/ns/default/sa/web;DNS=web.default.svc;DNS=web`;

  it('writes an element like Envoy', () => {
    expect(xfccElement(web, by)).toBe(mine);
    const odd: PeerIdentity = { ...web, uriSans: ['spiffe://td/a;b'], dnsSans: [], subject: 'CN=x"y' };
    expect(xfccElement(odd, '')).toBe('Hash=abcd0123;Subject="CN=x\\"y";URI="spiffe://td/a;b"');
  });

  const cases: [string, string | null, PeerIdentity | null, string[]][] = [
    ['sanitize', 'Hash=forged', web, []],
    ['sanitize', null, web, []],
    ['forward_only', 'Hash=upstream', web, ['Hash=upstream']],
    ['forward_only', 'Hash=forged', null, []],
    ['append_forward', 'Hash=upstream', web, [`Hash=upstream,${mine}`]],
    ['append_forward', null, web, [mine]],
    ['append_forward', 'Hash=forged', null, []],
    ['sanitize_set', 'Hash=forged', web, [mine]],
    ['sanitize_set', 'Hash=forged', null, []],
  ];
  it.each(cases)('%s with incoming %s', (mode, incoming, client, expected) => {
    const h = new HeaderList(incoming === null ? ['host', 'x'] : ['host', 'x', 'x-forwarded-client-cert', incoming]);
    applyXfcc(h, mode as 'sanitize', client, by);
    expect(h.getAll('x-forwarded-client-cert')).toEqual(expected);
  });
});
