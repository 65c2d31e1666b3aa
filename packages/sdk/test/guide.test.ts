import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { harnessRuntime } from '../../workers/src/wasm/harness-runtime.js';
import { runCli } from '../src/cli/main.js';

const DOC = fileURLToPath(new URL('../../../docs/sdk.md', import.meta.url));

/** The fenced blocks of one `## ` section of the guide, by language. */
async function section(title: string): Promise<Array<{ lang: string; body: string }>> {
  const doc = await readFile(DOC, 'utf8');
  const start = doc.indexOf(`## ${title}\n`);
  expect(start, `section "${title}" in docs/sdk.md`).toBeGreaterThan(-1);
  const end = doc.indexOf('\n## ', start + 3);
  const text = doc.slice(start, end === -1 ? undefined : end);
  return [...text.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1]!, body: m[2]! }));
}

let dir = '';
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('docs/sdk.md, followed step by step', () => {
  it('goes from `pillion-sdk new` to a built, tested filter', { timeout: 180_000 }, async () => {
    const blocks = await section('From nothing to a running filter');
    const commands = blocks.find((b) => b.lang === 'sh')!.body.trim().split('\n');
    expect(commands[0]).toBe('npx pillion-sdk new my-filter');
    dir = await mkdtemp(path.join(tmpdir(), 'pillion-guide-'));
    let cwd = dir;
    let output = '';
    for (const line of commands) {
      if (line.startsWith('cd ')) {
        cwd = path.resolve(cwd, line.slice(3).trim());
        continue;
      }
      expect(line.startsWith('npx pillion-sdk '), line).toBe(true);
      let printed = '';
      const collect = (text: string) => {
        printed += `${text}\n`;
      };
      const code = await runCli(line.slice('npx pillion-sdk '.length).split(' '), {
        cwd,
        out: collect,
        err: collect,
        runtime: async () => harnessRuntime,
      });
      expect(code, `${line}\n${printed}`).toBe(0);
      output = printed;
    }
    // the test output the guide shows is what the last command printed
    const shown = blocks.find((b) => b.lang === 'text')!.body;
    expect(output).toBe(shown);
    // the filter the guide shows is the one `new` wrote
    const generated = await readFile(path.join(cwd, 'assembly/index.ts'), 'utf8');
    const shownFilter = blocks.find((b) => b.lang === 'ts')!.body;
    expect(generated.replace(/\/\*\*[\s\S]*?\*\/\n/, '')).toBe(shownFilter);
    // the path the proxy config names exists, relative to where `new` ran
    const config = blocks.find((b) => b.lang === 'yaml')!.body;
    const wasm = /wasm: (\S+)/.exec(config)![1]!;
    expect((await stat(path.resolve(dir, wasm))).size).toBeGreaterThan(0);
  });
});
