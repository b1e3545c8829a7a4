/** The gateway: containerd's gRPC API served from the bus. */
export * from './config.js';
export * from './grpc-server.js';
export * from './status.js';
export * from './call-options.js';
export * from './gateway-context.js';
