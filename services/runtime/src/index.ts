/** The runtime service. */
export * from './plugins.js';
