/**
 * The differ of the snapshotter service: applying OCI/Docker image layers to snapshot directories
 * (`applyLayer`) and producing layers from snapshots (`diffLayer`, `compressGzip`).
 */
export { applyLayer, type ApplyTarget, type ApplyOptions, type ApplyResult, type DifferLogger } from './apply.js';
export { diffLayer, compressGzip, defaultIncludeXattr, type DiffUpper, type DiffOptions } from './diff.js';
export * from './media-types.js';
export { detectCompression, decompressStream, type Compression, type ByteSource } from './decompress.js';
export { defaultNativeOps, nativeLoadError, PortableOps, type NativeOps, type Timespec } from './native.js';
export { treeManifest, compareManifests, type ManifestEntry, type ManifestOptions } from './tree-manifest.js';
