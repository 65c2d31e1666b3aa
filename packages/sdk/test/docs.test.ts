import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { abiMarkdown } from '../src/abi-markdown.js';
import { compileCached } from './helpers/compile-cached.js';

const doc = () => readFile(fileURLToPath(new URL('../../../docs/sdk.md', import.meta.url)), 'utf8');

describe('docs/sdk.md', () => {
  it('prints the ABI exactly as src/abi.ts defines it', async () => {
    const text = await doc();
    const between = /<!-- abi:start -->\n([\s\S]*?)\n<!-- abi:end -->/.exec(text);
    expect(between?.[1]?.trim()).toBe(abiMarkdown());
  });

  it('shows only AssemblyScript that compiles', { timeout: 120_000 }, async () => {
    const blocks = [...(await doc()).matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    const dir = await mkdtemp(path.join(tmpdir(), 'pillion-doc-'));
    try {
      for (const [i, source] of blocks.entries()) {
        const file = path.join(dir, `doc-example-${i}.ts`);
        await writeFile(file, source);
        expect((await compileCached(file)).length).toBeGreaterThan(0);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
