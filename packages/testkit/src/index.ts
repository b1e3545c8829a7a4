/** Fixtures of the system tests: the Flotilla stack, Debian's containerd, and the real ctr. */
export * from './containerd.js';
export * from './ctr.js';
export * from './flotilla.js';
export * from './processes.js';
export * from './images/index.js';
export * from './raw-tar.js';
export * from './shims.js';
export * from './leftovers.js';
