/** The supervisor behind `flotilla up` and `flotilla status`. */
export * from './address.js';
export * from './service-runner.js';
export * from './status-file.js';
export * from './supervisor.js';
