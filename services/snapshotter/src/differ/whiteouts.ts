/**
 * Whiteouts: how a layer says "this was deleted" (OCI image-spec layer.md "Whiteouts"), and how
 * overlayfs says the same inside an upper directory (kernel Documentation/filesystems/overlayfs).
 *
 * In a layer tar:
 * - `<dir>/.wh.<name>` deletes `<dir>/<name>` from the layers below;
 * - `<dir>/.wh..wh..opq` makes `<dir>` opaque: nothing below shows through it.
 * In an overlayfs upper directory:
 * - a character device 0:0 named `<name>` hides `<name>`;
 * - the xattr `trusted.overlay.opaque=y` on a directory makes it opaque.
 */
import type { BigIntStats } from 'node:fs';
import { invalidArgument } from '@flotilla/api';
import { displayName, type ByteString } from './safe-path.js';

/** Prefix of a whiteout name. */
export const WHITEOUT_PREFIX = '.wh.';
/** Prefix of whiteout meta files (not deletions of real names). */
export const WHITEOUT_META_PREFIX = '.wh..wh.';
/** Name of the opaque-directory marker. */
export const OPAQUE_MARKER = '.wh..wh..opq';
/** The overlayfs xattr that marks an opaque directory. */
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';
/** Prefix of every xattr overlayfs keeps for itself. */
export const OVERLAY_XATTR_PREFIX = 'trusted.overlay.';

/** What a tar entry's base name means. */
export type WhiteoutKind = { kind: 'none' } | { kind: 'opaque' } | { kind: 'whiteout'; target: ByteString };

/**
 * Classifies the base name of a tar entry. A whiteout must name a real sibling: `.wh.` alone,
 * `.wh..` and `.wh...` are InvalidArgument (containerd's `validateWhiteout`).
 */
export function classifyWhiteout(base: ByteString): WhiteoutKind {
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: 'none' };
  if (base === OPAQUE_MARKER) return { kind: 'opaque' };
  const target = base.slice(WHITEOUT_PREFIX.length);
  if (target === '' || target === '.' || target === '..') {
    throw invalidArgument(`invalid whiteout name ${JSON.stringify(displayName(base))}`);
  }
  return { kind: 'whiteout', target };
}

/** Whether a stat is an overlayfs whiteout (a character device 0:0). */
export function isOverlayWhiteout(st: BigIntStats): boolean {
  return st.isCharacterDevice() && st.rdev === 0n;
}
