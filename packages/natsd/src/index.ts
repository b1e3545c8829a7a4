/** Runs Debian's nats-server for Flotilla: loopback only, with generated credentials (ARCHITECTURE §6). */
export * from './credentials.js';
export * from './server.js';
export * from './stop-process.js';
export * from './parent-death.js';
