/** Garbage collection of the metadata service. */
export * from './backend-cleanup.js';
export * from './collector.js';
export * from './labels.js';
export * from './scheduler.js';
export * from './fsck.js';
