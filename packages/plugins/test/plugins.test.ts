import { readFileSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSuite, runSuite } from '../../sdk/src/harness/index.js';
import type { SuiteResult } from '../../sdk/src/harness/index.js';
import { compileCached } from '../../sdk/test/helpers/compile-cached.js';
import { harnessRuntime } from '../../workers/src/wasm/harness-runtime.js';
import { PLUGINS, pluginPath, pluginSource } from '../index.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('the plugin index', () => {
  it('lists every plugin folder, and only those', () => {
    const folders = readdirSync(root).filter((name) => {
      try {
        return statSync(`${root}/${name}/filter.ts`).isFile();
      } catch {
        return false;
      }
    });
    expect([...PLUGINS].sort()).toEqual(folders.sort());
  });

  it('resolves a name to its .wasm in dist, and refuses unknown names', () => {
    expect(pluginPath('cors')).toBe(`${root}dist/cors.wasm`);
    expect(pluginSource('canary')).toBe(`${root}canary/filter.ts`);
    expect(() => pluginPath('teleport')).toThrowError(/unknown plugin "teleport"; built-in plugins: header-rewrite, cors/);
  });

  it.each(PLUGINS.map((name) => [name]))('%s has a README with a config snippet and fits on one screen', (name) => {
    const readme = readFileSync(`${root}/${name}/README.md`, 'utf8');
    expect(readme).toMatch(new RegExp(`plugin: ${name}\\n\\s+config:`));
    expect(readFileSync(pluginSource(name), 'utf8').split('\n').length).toBeLessThanOrEqual(70);
  });
});

// Each plugin's request suite, case by case, through the SDK harness on the proxy's host runtime.
for (const name of PLUGINS) {
  describe(`plugin ${name}`, () => {
    const suite = readSuite(JSON.parse(readFileSync(`${root}/${name}/requests.test.json`, 'utf8')));
    let result: SuiteResult;

    beforeAll(async () => {
      const module = new WebAssembly.Module(await compileCached(pluginSource(name)));
      result = runSuite(suite, module, harnessRuntime);
    });

    it.each(suite.cases.map((c, i) => [c.name, i] as const))('%s', (_name, i) => {
      expect(result.cases[i]!.failures).toEqual([]);
    });
  });
}
