import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * `pnpm test:interop`: tests against real programs from Debian's packages (curl, nginx, openssl).
 * Their files are named *.interop.ts so the main suite (`test/**\/*.test.ts`) does not pick them up.
 * Each file calls requirePrograms() (test/interop/programs.ts) when it loads, so a missing program
 * fails the run, with the apt-get line in the message; it never skips.
 */
export default defineConfig({ test: { ...base.test, include: ['test/interop/**/*.interop.ts'] } });
