/** The snapshotter service: overlayfs and native snapshotters with their own LMDB metastores (ARCHITECTURE §1). */
export * from './types.js';
export * from './client.js';
export * from './server.js';
export * from './config.js';
export * from './plugins.js';
export * from './storage/metastore.js';
export * from './storage/disk-usage.js';
export * from './storage/info-filter.js';
export * from './local/local-snapshotter.js';
export * from './overlay/overlay.js';
export * from './overlay/support.js';
export * from './native/native.js';
export * from './native/copy-tree.js';
export * from './differ/index.js';
export * from './diff-service.js';
