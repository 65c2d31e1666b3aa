/**
 * tracing: distributed tracing's pure parts. W3C Trace Context and B3 header values (w3c.ts, b3.ts),
 * reading and writing them on a request (propagation.ts), trace and span ids (ids.ts), the head
 * sampling decision (sampling.ts), and the OTLP/HTTP JSON encoding of spans (otlp-json.ts).
 */
export * from './span-context.js';
export * from './w3c.js';
export * from './b3.js';
export * from './ids.js';
export * from './sampling.js';
export * from './propagation.js';
export * from './otlp-json.js';
