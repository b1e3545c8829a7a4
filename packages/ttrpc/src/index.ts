/**
 * @flotilla/ttrpc — containerd's ttrpc protocol (client and server) over unix sockets,
 * byte-compatible with github.com/containerd/ttrpc. See containerd-facts §1.
 */
export * from './frame.js';
export * from './codec.js';
export * from './wire.js';
export * from './metadata.js';
export * from './channel.js';
export * from './queue.js';
export * from './address.js';
export * from './peercred.js';
export * from './client.js';
export * from './typed-client.js';
export * from './server.js';
