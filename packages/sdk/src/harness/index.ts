export type { CaseRun, HarnessEnv, HarnessFilter, HarnessRuntime, HeaderPairs, RequestSpec, ResponseSpec } from './runtime.js';
export { parseSuite, readSuite, SuiteError } from './suite.js';
export type { Expectation, FilterSuite, HeaderExpectation, RequestCase } from './suite.js';
export { compareRun } from './compare.js';
export { formatResult, runSuite } from './run-suite.js';
export type { CaseResult, SuiteResult } from './run-suite.js';
export { loadHarnessRuntime } from './load-runtime.js';
