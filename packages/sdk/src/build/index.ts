export { compileFilter, FILTER_FLAGS } from './compile.js';
export type { CompileOptions, CompileResult } from './compile.js';
