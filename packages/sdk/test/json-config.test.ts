import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { harnessRuntime } from '../../workers/src/wasm/harness-runtime.js';
import type { HarnessEnv } from '../src/harness/runtime.js';
import { compileCached } from './helpers/compile-cached.js';

let module: WebAssembly.Module;
const env: HarnessEnv = { now: () => 0, random: () => 0, log: () => {} };

beforeAll(async () => {
  module = new WebAssembly.Module(await compileCached(fileURLToPath(new URL('./fixtures/config-echo.ts', import.meta.url))));
});

/** What the filter read from `configJson`, header by header. */
function read(configJson: string): Record<string, string> {
  const run = harnessRuntime.createFilter(module, configJson, env).run({}, {});
  return Object.fromEntries(run.requestHeaders.map(([name, value]) => [name.slice(2), value]));
}

describe('JsonValue, the config reader filters get', () => {
  it('reads strings with every escape, numbers, booleans, lists and nested objects', () => {
    const config = JSON.stringify({
      s: 'q"uote\\back/slash é \u00ff',
      u: '\u2603\ud83d\ude00',
      n: -12.5e1,
      b: true,
      list: ['a', 'b c'],
      o: { k: 'v', other: [1, { deep: null }] },
      mixed: [1, 'two', null, false, [], {}],
      z: null,
    });
    expect(read(config.replace(/é/, '\\u00e9'))).toMatchObject({
      s: 'q"uote\\back/slash é \u00ff',
      ulen: '3',
      ucodes: '2603 d83d de00',
      n: '-125.0',
      i: '-125',
      b: 'true',
      list: 'a|b c',
      nested: 'v',
      keys: 'k|other',
      items: '6',
      null: 'null',
    });
  });

  it('takes fallbacks for absent fields and nulls', () => {
    expect(read('{"s": null}')).toMatchObject({ s: 'default', ulen: '0', n: '-1.0', b: 'false', list: '', nested: 'none', items: '0', null: 'absent' });
  });

  it('decodes escapes exactly (checked through a header the host validates as Latin-1)', () => {
    expect(read(String.raw`{"s": "a\"b\\c\/d\u0041\u00e9"}`).s).toBe('a"b\\c/dAé');
  });

  it('decodes control escapes', () => {
    expect(read(String.raw`{"u": "\t\n\r\b\f"}`).ucodes).toBe('9 a d 8 c');
  });

  it.each([
    ['{"s": "unterminated', 'invalid JSON at offset 19: unterminated string'],
    ['{"s" 1}', 'invalid JSON at offset 5: expected :'],
    ['{"a": 1,}', 'invalid JSON at offset 8: expected a key'],
    ['[1 2]', 'invalid JSON at offset 3: expected , or ]'],
    ['{"a": tru}', 'invalid JSON at offset 6: unexpected character'],
    ['{"a": "\\x"}', 'invalid JSON at offset 9: bad escape'],
    ['{"a": "\\u12g4"}', 'invalid JSON at offset 11: bad \\u escape'],
    ['{} {}', 'invalid JSON at offset 3: unexpected text after the value'],
    ['{"s": 5}', "config 's' must be a string, not a number"],
    ['{"list": ["a", 1]}', "config 'list' must be a string, not a number"],
    ['{"o": []}', "config 'o' must be an object, not an array"],
  ])('rejects %s', (configJson, message) => {
    expect(() => harnessRuntime.createFilter(module, configJson, env)).toThrowError(message);
  });
});
