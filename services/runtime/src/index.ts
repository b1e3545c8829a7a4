/** The runtime service: tasks, bundles and shims (ARCHITECTURE §1). */
export * from './types.js';
export * from './client.js';
export * from './server.js';
export * from './config.js';
export * from './plugins.js';
export * from './bundle.js';
export * from './shim-binary.js';
export * from './shim-task.js';
export * from './task-manager.js';
export * from './tasks-service.js';
export * from './events-endpoint.js';
export * from './protos.js';
