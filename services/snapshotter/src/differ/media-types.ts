/**
 * Layer media types and the compression each one declares, as containerd's
 * `images.DiffCompression` reads them: a media type is split into its base and "+suffix" parts;
 * OCI layer types take the compression from the last suffix; the Docker `.tar` types may be compressed
 * anyway ("unknown": detect); wrapped types (e.g. "+encrypted") and anything else are not layers we
 * can apply (Unimplemented, like containerd's ErrNotImplemented).
 */
import { unimplemented } from '@flotilla/api';

/** OCI uncompressed layer. */
export const MediaTypeOciLayer = 'application/vnd.oci.image.layer.v1.tar';
/** OCI gzip layer. */
export const MediaTypeOciLayerGzip = 'application/vnd.oci.image.layer.v1.tar+gzip';
/** OCI zstd layer. */
export const MediaTypeOciLayerZstd = 'application/vnd.oci.image.layer.v1.tar+zstd';
/** OCI non-distributable (deprecated) layer. */
export const MediaTypeOciLayerNonDistributable = 'application/vnd.oci.image.layer.nondistributable.v1.tar';
/** OCI non-distributable gzip layer. */
export const MediaTypeOciLayerNonDistributableGzip = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';
/** OCI non-distributable zstd layer. */
export const MediaTypeOciLayerNonDistributableZstd = 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd';
/** Docker schema 2 uncompressed layer. */
export const MediaTypeDockerLayer = 'application/vnd.docker.image.rootfs.diff.tar';
/** Docker schema 2 gzip layer. */
export const MediaTypeDockerLayerGzip = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
/** Docker schema 2 zstd layer (containerd accepts it). */
export const MediaTypeDockerLayerZstd = 'application/vnd.docker.image.rootfs.diff.tar.zstd';
/** Docker foreign (non-distributable) layer. */
export const MediaTypeDockerLayerForeign = 'application/vnd.docker.image.rootfs.foreign.diff.tar';
/** Docker foreign gzip layer. */
export const MediaTypeDockerLayerForeignGzip = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';

/**
 * The compression a layer media type declares: `none`, `gzip`, `zstd`, or `unknown` (Docker's plain
 * `.tar` types, which tools sometimes use for compressed data). The actual stream is always checked
 * by its magic bytes as well (see decompress.ts).
 */
export type DeclaredCompression = 'none' | 'gzip' | 'zstd' | 'unknown';

/** Splits "base+suffix1+suffix2" and ignores parameters after ";". */
function parseMediaType(mt: string): { base: string; ext: string[] } {
  const bare = mt.split(';')[0]!.trim().toLowerCase();
  const parts = bare.split('+');
  return { base: parts[0]!, ext: parts.slice(1) };
}

/**
 * The compression declared by a layer media type. Throws Unimplemented for media types that are not
 * layers we can apply (unknown types, and wrapped ones such as "+encrypted").
 */
export function declaredCompression(mediaType: string): DeclaredCompression {
  const { base, ext } = parseMediaType(mediaType);
  const wrapped = (): never => {
    throw unimplemented(`layer media type ${JSON.stringify(mediaType)} (wrapped: ${ext.join('+')})`);
  };
  switch (base) {
    case MediaTypeDockerLayer:
    case MediaTypeDockerLayerForeign:
      if (ext.length) wrapped();
      return 'unknown';
    case MediaTypeDockerLayerGzip:
    case MediaTypeDockerLayerForeignGzip:
      if (ext.length) wrapped();
      return 'gzip';
    case MediaTypeDockerLayerZstd:
      if (ext.length) wrapped();
      return 'zstd';
    case MediaTypeOciLayer:
    case MediaTypeOciLayerNonDistributable: {
      if (ext.length === 0) return 'none';
      if (ext.length === 1 && ext[0] === 'gzip') return 'gzip';
      if (ext.length === 1 && ext[0] === 'zstd') return 'zstd';
      return wrapped();
    }
    default:
      throw unimplemented(`unrecognised layer media type ${JSON.stringify(mediaType)}`);
  }
}

/** Whether a media type is a layer this differ can apply. */
export function isApplicableLayer(mediaType: string): boolean {
  try {
    declaredCompression(mediaType);
    return true;
  } catch {
    return false;
  }
}
