/** Shared contracts of every Flotilla process: error kinds, identifier and label rules, plugin records. */
export * from './errors.js';
export * from './identifiers.js';
export * from './labels.js';
export * from './plugins.js';
export * from './digests.js';
