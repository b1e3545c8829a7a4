/** @flotilla/bench — Flotilla vs containerd benchmark harness. */
export * from './types.js';
export * from './clients.js';
export * from './load.js';
export * from './harness.js';
export * from './report.js';
export { main, USAGE } from './cli.js';
export { BENCHMARKS, selectBenchmarks } from './benchmarks/index.js';
