import { cp, readFile, readdir, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SDK_ROOT } from '../sdk-root.js';

const TEMPLATE = path.join(SDK_ROOT, 'templates', 'filter');
const NAME = /^[a-z][a-z0-9-]{0,63}$/;

/** "rate-guard" → "RateGuard": the filter class name in the template. */
function className(name: string): string {
  return name.replace(/(^|-)([a-z0-9])/g, (_m, _dash, c: string) => c.toUpperCase());
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

async function* files(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* files(full);
    else yield full;
  }
}

/** Creates `parent/name` from the filter template: a working filter, its test, a README. */
export async function scaffold(name: string, parent: string): Promise<string> {
  if (!NAME.test(name)) throw new Error(`the filter name must be lower-case letters, digits and dashes (got ${JSON.stringify(name)})`);
  const dir = path.resolve(parent, name);
  if (await exists(dir)) throw new Error(`${dir} already exists`);
  const { version } = JSON.parse(await readFile(path.join(SDK_ROOT, 'package.json'), 'utf8')) as { version: string };
  await cp(TEMPLATE, dir, { recursive: true });
  await rename(path.join(dir, 'gitignore'), path.join(dir, '.gitignore'));
  for await (const file of files(dir)) {
    const text = await readFile(file, 'utf8');
    const filled = text
      .replaceAll('__NAME__', name)
      .replaceAll('__CLASS__', className(name))
      .replaceAll('__SDK_VERSION__', version);
    if (filled !== text) await writeFile(file, filled);
  }
  return dir;
}
