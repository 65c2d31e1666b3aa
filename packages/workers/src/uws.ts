/**
 * Loading uWebSockets.js. The npm build Pillion depends on falls back to a slow pure-JS server when its
 * native binary does not load, printing a warning nobody reads; a proxy running on that fallback would be
 * quietly ten times slower. So we detect it and refuse to start.
 */
import { createRequire } from 'node:module';
import type * as UwsTypes from 'uWebSockets.js';

export type Uws = typeof UwsTypes;
export type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js';

export class UwsNotNativeError extends Error {
  readonly code = 'PILLION_UWS_NOT_NATIVE';
}

let loaded: Uws | undefined;

export function loadUws(): Uws {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const originalWarn = console.warn;
  const warnings: string[] = [];
  console.warn = (...args: unknown[]) => warnings.push(args.join(' '));
  let mod: Uws;
  try {
    mod = require('uWebSockets.js') as Uws;
  } finally {
    console.warn = originalWarn;
  }
  const native = /\[native code\]/.test(Function.prototype.toString.call(mod.App));
  if (!native) {
    const why = warnings.join(' ').replace(/\s+/g, ' ').trim();
    throw new UwsNotNativeError(
      `uWebSockets.js loaded its JavaScript fallback instead of its native binary` +
        ` (Node ${process.version}, ABI ${process.versions.modules}, ${process.platform}-${process.arch})` +
        (why ? `: ${why}` : '') +
        `. Pillion needs the native build: use a Node.js version that build ships a binary for (Node 20 works),` +
        ` or install a uWebSockets.js build for this platform under the name "uWebSockets.js", and unset UWS_USE_FALLBACK.`,
    );
  }
  loaded = mod;
  return mod;
}
