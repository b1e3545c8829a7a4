/** The Flotilla bus: NATS + MessagePack request/reply, streams, events and introspection. */
export * from './bus.js';
export * from './channel.js';
export * from './codec.js';
export * from './context.js';
export * from './contract.js';
export * from './events.js';
export * from './headers.js';
export * from './subjects.js';
