export * from './layout.js';
export * from './shared-state.js';
export * from './slot-allocator.js';
