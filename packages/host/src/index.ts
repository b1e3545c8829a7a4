/** Hosting a Flotilla service as its own OS process. */
export * from './environment.js';
export * from './service-process.js';
