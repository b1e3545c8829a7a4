/**
 * A read-only view of a stack of directories as overlayfs would merge them, without mounting:
 * the topmost layer holding a name decides what it is; a whiteout (character device 0:0) hides the
 * name; a non-directory hides any directory of the same name below; a directory marked
 * `trusted.overlay.opaque=y` hides everything below it. With `overlay: false` (a single full tree,
 * e.g. a native snapshot) nothing is interpreted: devices 0:0 are just devices.
 */
import { readdirSync, type BigIntStats } from 'node:fs';
import { ScopedRoot } from './safe-path.js';
import { ioFailure } from './io-errors.js';
import type { NativeOps } from './native.js';
import { OVERLAY_OPAQUE_XATTR, isOverlayWhiteout } from './whiteouts.js';

/** One visible entry of the merged view. */
export interface ViewEntry {
  /** Its stat in the layer that provides it. */
  st: BigIntStats;
  /** Host path in that layer. */
  host: Buffer;
  /** Index of the layer (0 = top). */
  layer: number;
}

/** The merged view. */
export class LayeredView {
  private readonly layers: ScopedRoot[];
  private readonly dirCache = new Map<string, number[]>();

  /**
   * @param dirs layer directories, top first (may be empty: an empty view)
   * @param overlay interpret whiteouts and opaque directories
   */
  constructor(
    dirs: string[],
    private readonly overlay: boolean,
    private readonly native: NativeOps,
  ) {
    this.layers = dirs.map((d) => new ScopedRoot(d));
  }

  /** Whether the view has no layers. */
  get empty(): boolean {
    return this.layers.length === 0;
  }

  private isOpaque(layer: number, comps: string[]): boolean {
    if (!this.overlay) return false;
    const v = this.native.lgetxattr(this.layers[layer]!.host(comps), OVERLAY_OPAQUE_XATTR);
    return v !== undefined && v.length === 1 && v[0] === 0x79;
  }

  /** Layers (top first) whose directory at `comps` makes up the merged directory; [] if none. */
  dirLayers(comps: string[]): number[] {
    if (comps.length === 0) {
      const out: number[] = [];
      for (let i = 0; i < this.layers.length; i++) {
        if (!this.layers[i]!.lstat([])?.isDirectory()) continue;
        out.push(i);
        if (this.isOpaque(i, [])) break;
      }
      return out;
    }
    const key = comps.join('/');
    const cached = this.dirCache.get(key);
    if (cached) return cached;
    const out: number[] = [];
    for (const i of this.dirLayers(comps.slice(0, -1))) {
      const st = this.layers[i]!.lstat(comps);
      if (!st) continue;
      if (!st.isDirectory() || (this.overlay && isOverlayWhiteout(st))) break;
      out.push(i);
      if (this.isOpaque(i, comps)) break;
    }
    this.dirCache.set(key, out);
    return out;
  }

  /** The visible entry at `comps` (never the root), or undefined. */
  lookup(comps: string[]): ViewEntry | undefined {
    for (const i of this.dirLayers(comps.slice(0, -1))) {
      const st = this.layers[i]!.lstat(comps);
      if (!st) continue;
      if (this.overlay && isOverlayWhiteout(st)) return undefined;
      return { st, host: this.layers[i]!.host(comps), layer: i };
    }
    return undefined;
  }

  /** The visible children of the directory at `comps`, by name (byte string). */
  list(comps: string[]): Map<string, ViewEntry> {
    const out = new Map<string, ViewEntry>();
    const seen = new Set<string>();
    for (const i of this.dirLayers(comps)) {
      const layer = this.layers[i]!;
      let names: Buffer[];
      try {
        names = readdirSync(layer.host(comps), { encoding: 'buffer' });
      } catch (err) {
        throw ioFailure('readdir', layer.display(comps), err);
      }
      for (const n of names) {
        const name = n.toString('latin1');
        if (seen.has(name)) continue;
        seen.add(name);
        const child = [...comps, name];
        const st = layer.lstat(child);
        if (!st) continue;
        if (this.overlay && isOverlayWhiteout(st)) continue;
        out.set(name, { st, host: layer.host(child), layer: i });
      }
    }
    return out;
  }
}
