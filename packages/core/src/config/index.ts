export * from './schema.js';
export * from './duration.js';
export * from './errors.js';
export * from './validate.js';
export * from './load.js';
export * from './descriptor-budget.js';
