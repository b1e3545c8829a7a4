/** The content service: blobs and resumable ingests (ARCHITECTURE §1, §3). */
export * from './types.js';
export * from './names.js';
export * from './protocol.js';
export * from './client.js';
export * from './server.js';
export * from './config.js';
export * from './plugins.js';
export * from './local/layout.js';
export * from './local/store.js';
