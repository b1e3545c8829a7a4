/** The snapshotter service. */
export * from './plugins.js';
