/** The metadata service: namespaced records on LMDB (ARCHITECTURE §1). */
export * from './types.js';
export * from './client.js';
export * from './server.js';
export * from './config.js';
export * from './lmdb/environment.js';
export * from './lmdb/namespaces.js';
export * from './lmdb/content.js';
export * from './lmdb/leases.js';
export * from './lmdb/stores.js';
export * from './lmdb/images.js';
export * from './lmdb/containers.js';
export * from './gc/index.js';
export * from './snapshots/backend.js';
export * from './snapshots/store.js';
