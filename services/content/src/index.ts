/** The content service. */
export * from './plugins.js';
