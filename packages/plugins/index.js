/**
 * The built-in filters, by name: what `plugin: NAME` in a listener's filters resolves to. Each
 * folder holds one filter (filter.ts), its README and its request suite; `node build.js`
 * compiles them to dist/NAME.wasm.
 */
import { fileURLToPath } from 'node:url';

export const PLUGINS = Object.freeze(['header-rewrite', 'cors', 'api-key', 'local-rate-limit', 'canary']);

export function isPlugin(name) {
  return PLUGINS.includes(name);
}

/** Absolute path of the compiled plugin; throws for a name that is not a built-in plugin. */
export function pluginPath(name) {
  if (!isPlugin(name)) throw new Error(`unknown plugin ${JSON.stringify(name)}; built-in plugins: ${PLUGINS.join(', ')}`);
  return fileURLToPath(new URL(`./dist/${name}.wasm`, import.meta.url));
}

/** Absolute path of the plugin's AssemblyScript source. */
export function pluginSource(name) {
  if (!isPlugin(name)) throw new Error(`unknown plugin ${JSON.stringify(name)}`);
  return fileURLToPath(new URL(`./${name}/filter.ts`, import.meta.url));
}
