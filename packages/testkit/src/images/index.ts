/** Test images built by the project (no registry, no internet): busybox and a large multi-layer image. */
export * from './archive.js';
export * from './busybox.js';
export * from './content.js';
export * from './digest.js';
export * from './image.js';
export * from './large.js';
export * from './layer.js';
export * from './tar.js';
