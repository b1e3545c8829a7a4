/**
 * @flotilla/shim — containerd-shim-flotilla-v2, a containerd shim v2 driving runc. The program is
 * `main.ts` (never imported); these are its pieces for tests and for the runtime service, which
 * computes the same socket addresses.
 */
export * from './address.js';
export * from './flags.js';
export * from './wire.js';
export * from './events.js';
export { SHIM_NAME, SHIM_VERSION } from './version.js';
