/** The cri service. */
export * from './plugins.js';
