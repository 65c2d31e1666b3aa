import { fileURLToPath } from 'node:url';

/** The SDK package's folder (this file sits one level under src/ or dist/). */
export const SDK_ROOT = fileURLToPath(new URL('..', import.meta.url));
