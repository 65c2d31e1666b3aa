import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { harnessRuntime } from '../../workers/src/wasm/harness-runtime.js';
import { abiMarkdown } from '../src/abi-markdown.js';
import { runCli } from '../src/cli/main.js';
import { compileCached } from './helpers/compile-cached.js';

let dir = '';
let printed: string[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'pillion-cli-'));
  printed = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const cli = (...argv: string[]) =>
  runCli(argv, { cwd: dir, out: (t) => printed.push(t), err: (t) => printed.push(t), runtime: async () => harnessRuntime });

describe('pillion-sdk', () => {
  it('new: scaffolds a project named after the filter', async () => {
    expect(await cli('new', 'rate-guard')).toBe(0);
    const index = await readFile(path.join(dir, 'rate-guard/assembly/index.ts'), 'utf8');
    expect(index).toContain('class RateGuard extends Filter');
    expect(index).toContain('register(new RateGuard());');
    const pkg = JSON.parse(await readFile(path.join(dir, 'rate-guard/package.json'), 'utf8'));
    expect(pkg).toMatchObject({ name: 'rate-guard', devDependencies: { '@pillion/sdk': '^0.1.0' } });
    expect(await readFile(path.join(dir, 'rate-guard/.gitignore'), 'utf8')).toBe('build/\nnode_modules/\n');
    expect(printed).toEqual(['created rate-guard\nnext: cd rate-guard && npx pillion-sdk build && npx pillion-sdk test']);
  });

  it.each([
    [['new', 'Bad_Name'], 1, 'pillion-sdk: the filter name must be lower-case letters, digits and dashes (got "Bad_Name")'],
    [['new'], 2, 'pillion-sdk: usage: pillion-sdk new NAME'],
    [['teleport'], 2, 'pillion-sdk: unknown command teleport'],
    [['test'], 2, 'pillion-sdk: no suites: pass files, or put *.test.json files in ./test'],
  ])('%j exits %i', async (argv, code, message) => {
    expect(await cli(...argv)).toBe(code);
    expect(printed[0]!.startsWith(message)).toBe(true);
  });

  it('new: refuses to overwrite', async () => {
    await mkdir(path.join(dir, 'taken'));
    expect(await cli('new', 'taken')).toBe(1);
    expect(printed[0]).toMatch(/taken already exists$/);
  });

  it('abi: prints the ABI tables', async () => {
    expect(await cli('abi')).toBe(0);
    expect(printed).toEqual([abiMarkdown()]);
  });

  it('build: prints compiler errors and fails', { timeout: 120_000 }, async () => {
    await mkdir(path.join(dir, 'assembly'));
    await writeFile(path.join(dir, 'assembly/index.ts'), 'let x: i32 = "not a number";\n');
    expect(await cli('build')).toBe(1);
    expect(printed.join('\n')).toMatch(/TS2322: Type '~lib\/string\/String' is not assignable to type 'i32'/);
  });

  it('test: runs the suites it is given, against --wasm, and fails on a failing case', async () => {
    const wasm = await compileCached(fileURLToPath(new URL('./fixtures/echo.ts', import.meta.url)));
    await writeFile(path.join(dir, 'echo.wasm'), wasm);
    const suite = {
      config: { greeting: 'hey' },
      cases: [
        { name: 'greets', expect: { request_headers: { 'x-greeting': 'hey' } } },
        { name: 'is wrong', expect: { status: 404 } },
      ],
    };
    await writeFile(path.join(dir, 'echo.test.json'), JSON.stringify(suite));
    expect(await cli('test', 'echo.test.json', '--wasm', 'echo.wasm')).toBe(1);
    expect(printed).toEqual([
      ['# echo.test.json', 'ok 1 - greets', 'not ok 2 - is wrong', '    status: expected 404, got 200', '# 1 passed, 1 failed'].join('\n'),
    ]);
  });

  it('test: finds the wasm a suite names, relative to the suite', async () => {
    await mkdir(path.join(dir, 'test'));
    await writeFile(path.join(dir, 'test/echo.wasm'), await compileCached(fileURLToPath(new URL('./fixtures/echo.ts', import.meta.url))));
    await writeFile(path.join(dir, 'test/a.test.json'), JSON.stringify({ filter: 'echo.wasm', cases: [{ name: 'greets', expect: { request_headers: { 'x-greeting': 'hi' } } }] }));
    expect(await cli('test')).toBe(0);
    expect(printed).toEqual(['# test/a.test.json\nok 1 - greets\n# 1 passed, 0 failed']);
  });

  it('test: says to build first when the wasm is missing', async () => {
    await mkdir(path.join(dir, 'test'));
    await writeFile(path.join(dir, 'test/a.test.json'), JSON.stringify({ cases: [{ name: 'x' }] }));
    expect(await cli('test')).toBe(2);
    expect(printed).toEqual(['pillion-sdk: build/filter.wasm not found: run pillion-sdk build first']);
  });
});
