/** The OCI documents of a test image (config, manifest, layout index) built from its layers. */
import { chainIds, sha256Bytes } from './digest.js';
import type { ImageLayer } from './layer.js';
import { TAR_MTIME } from './tar.js';

/** OCI image config media type. */
export const MEDIA_TYPE_CONFIG = 'application/vnd.oci.image.config.v1+json';
/** OCI image manifest media type. */
export const MEDIA_TYPE_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** OCI image index media type. */
export const MEDIA_TYPE_INDEX = 'application/vnd.oci.image.index.v1+json';
/** containerd's annotation carrying the full image name in an exported index. */
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';
/** OCI annotation carrying the reference (the tag) in an image layout's index. */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
/** The `created` time of every test image config and history entry. */
export const IMAGE_CREATED = new Date(TAR_MTIME * 1000).toISOString().replace('.000Z', 'Z');

/** The PATH every test image has. */
export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** An OCI content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** The runtime part (`config`) of an image config. */
export interface ImageRuntimeConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  Labels?: Record<string, string>;
}

/** An OCI image config. */
export interface ImageConfig {
  created: string;
  architecture: string;
  os: string;
  config: ImageRuntimeConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history: { created: string; created_by: string; comment?: string }[];
}

/** An OCI image manifest. */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType: typeof MEDIA_TYPE_MANIFEST;
  config: Descriptor;
  layers: Descriptor[];
}

/** An OCI image index (here: the `index.json` of an image layout; like containerd 1.6's export, without `mediaType`). */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: typeof MEDIA_TYPE_INDEX;
  manifests: Descriptor[];
}

/** A test image: its layers and the exact bytes of its config and manifest. */
export interface TestImage {
  /** Full reference, e.g. `flotilla.test/busybox:latest`. */
  name: string;
  layers: ImageLayer[];
  config: ImageConfig;
  configBytes: Buffer;
  configDescriptor: Descriptor;
  manifest: ImageManifest;
  manifestBytes: Buffer;
  /** The manifest's descriptor (its digest is what `ctr images ls` shows after an OCI import). */
  manifestDescriptor: Descriptor;
  /** The `index.json` of the OCI layout, byte for byte what `ctr images export` (1.6) writes for it. */
  index: ImageIndex;
  /** For images on disk: the directory holding their files. */
  dir?: string;
  /** For images on disk: their OCI archive, if written. */
  ociArchive?: string;
}

/** Splits `host/repo:tag` (or `repo@sha256:…`) into repository and tag/digest object. */
export function splitReference(name: string): { repository: string; tag?: string; digest?: string } {
  const at = name.indexOf('@');
  if (at >= 0) return { repository: name.slice(0, at), digest: name.slice(at + 1) };
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) return { repository: name.slice(0, colon), tag: name.slice(colon + 1) };
  return { repository: name };
}

/** The OCI `ref.name` of an image name, as containerd's exporter derives it (the tag, else the digest). */
export function ociRefName(name: string): string {
  const r = splitReference(name);
  return r.tag ?? r.digest ?? name;
}

/**
 * Assembles config, manifest and layout index for `layers` (bottom first). JSON is serialised
 * with a fixed key order, so the same layers and options always give the same manifest digest.
 */
export function assembleImage(name: string, layers: ImageLayer[], opts: { config?: ImageRuntimeConfig; history?: string[] } = {}): TestImage {
  const config: ImageConfig = {
    created: IMAGE_CREATED,
    architecture: 'amd64',
    os: 'linux',
    config: opts.config ?? { Env: [DEFAULT_PATH], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: IMAGE_CREATED, created_by: opts.history?.[i] ?? `flotilla testkit layer ${i}` })),
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDescriptor: Descriptor = { mediaType: MEDIA_TYPE_CONFIG, digest: sha256Bytes(configBytes), size: configBytes.length };
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPE_MANIFEST,
    config: configDescriptor,
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestDescriptor: Descriptor = { mediaType: MEDIA_TYPE_MANIFEST, digest: sha256Bytes(manifestBytes), size: manifestBytes.length };
  const index: ImageIndex = {
    schemaVersion: 2,
    manifests: [{ ...manifestDescriptor, annotations: { [ANNOTATION_IMAGE_NAME]: name, [ANNOTATION_REF_NAME]: ociRefName(name) } }],
  };
  return { name, layers, config, configBytes, configDescriptor, manifest, manifestBytes, manifestDescriptor, index };
}

/** The ways tests refer to an image and its parts. */
export interface ImageRefs {
  /** Full name, e.g. `flotilla.test/busybox:latest`. */
  name: string;
  repository: string;
  tag?: string;
  /** `repository@<manifest digest>`. */
  digestRef: string;
  manifestDigest: string;
  configDigest: string;
  /** Compressed blob digests, bottom first. */
  layerDigests: string[];
  diffIds: string[];
  /** Chain IDs, bottom first; the last one names the image's top snapshot after unpack. */
  chainIds: string[];
}

/** Names, digests and snapshot chain IDs of an image. */
export function imageRefs(image: TestImage): ImageRefs {
  const r = splitReference(image.name);
  const diffIds = image.layers.map((l) => l.diffId);
  return {
    name: image.name,
    repository: r.repository,
    ...(r.tag !== undefined ? { tag: r.tag } : {}),
    digestRef: `${r.repository}@${image.manifestDescriptor.digest}`,
    manifestDigest: image.manifestDescriptor.digest,
    configDigest: image.configDescriptor.digest,
    layerDigests: image.layers.map((l) => l.digest),
    diffIds,
    chainIds: chainIds(diffIds),
  };
}
