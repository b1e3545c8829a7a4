/**
 * Path safety for layer extraction (ARCHITECTURE §6: a layer can never write outside the snapshot).
 *
 * Names inside a layer are raw bytes. We carry them as "byte strings": JavaScript strings holding one
 * character per byte (latin1), so any name survives unchanged, splitting on "/" works, and comparing
 * two byte strings compares their bytes. They become Buffers only at the system-call boundary.
 *
 * Rules (containerd `archive.applyNaive` + continuity `fs.RootPath`, and moby's breakout check):
 * - a leading "/" is dropped: absolute names are relative to the root (as containerd and GNU tar);
 * - "." and empty components are dropped, ".." removes the previous component, and a ".." that would
 *   climb above the root is an InvalidArgument (moby's `breakoutError`; containerd would clamp it);
 * - every *parent* component is resolved with lstat inside the root; a symlink met there is followed
 *   **within the root** (an absolute target restarts at the root, ".." stops at the root), at most
 *   255 times; the final component is never followed.
 */
import { lstatSync, readlinkSync, type BigIntStats } from 'node:fs';
import { invalidArgument } from '@flotilla/api';
import { ioFailure } from './io-errors.js';

/** A path or name as raw bytes, one character per byte. */
export type ByteString = string;

/** Raw bytes to a byte string. */
export function bytesToString(b: Uint8Array): ByteString {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

/** A byte string back to its bytes. */
export function stringToBytes(s: ByteString): Buffer {
  return Buffer.from(s, 'latin1');
}

/** A JavaScript (UTF-16) string as a byte string of its UTF-8 encoding. */
export function utf8ToByteString(s: string): ByteString {
  return Buffer.from(s, 'utf8').toString('latin1');
}

/** A byte string for messages: its UTF-8 reading (invalid bytes become U+FFFD). */
export function displayName(s: ByteString): string {
  return Buffer.from(s, 'latin1').toString('utf8');
}

/** How many symlinks one resolution may follow (continuity's limit). */
export const MAX_SYMLINK_HOPS = 255;

/**
 * Splits a name from a layer into clean components (see the module rules). Returns `[]` for the
 * root itself. Throws InvalidArgument for a NUL byte or a ".." that climbs above the root.
 */
export function entryComponents(name: ByteString, what = 'entry'): string[] {
  if (name.includes('\0')) throw invalidArgument(`${what} ${JSON.stringify(displayName(name))} contains a NUL byte`);
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length === 0) {
        throw invalidArgument(`${what} ${JSON.stringify(displayName(name))} climbs out of the root`);
      }
      out.pop();
      continue;
    }
    out.push(c);
  }
  return out;
}

/** Whether a bigint stat is a symlink. */
function isSymlink(st: BigIntStats): boolean {
  return st.isSymbolicLink();
}

/**
 * A directory tree addressed by components, with symlink resolution scoped to the tree.
 */
export class ScopedRoot {
  /** The root as bytes (its path on the host). */
  readonly rootBytes: Buffer;

  /** @param root host path of the tree (a normal string). */
  constructor(readonly root: string) {
    this.rootBytes = Buffer.from(root.replace(/\/+$/, '') || '/', 'utf8');
  }

  /** The host path of components inside the root, as bytes (for node:fs and native calls). */
  host(comps: readonly string[]): Buffer {
    if (comps.length === 0) return this.rootBytes;
    const rel = Buffer.from(comps.join('/'), 'latin1');
    const sep = this.rootBytes.length === 1 && this.rootBytes[0] === 0x2f ? 0 : 1;
    const out = Buffer.allocUnsafe(this.rootBytes.length + sep + rel.length);
    this.rootBytes.copy(out, 0);
    if (sep) out[this.rootBytes.length] = 0x2f;
    rel.copy(out, this.rootBytes.length + sep);
    return out;
  }

  /** The host path of components as a display string. */
  display(comps: readonly string[]): string {
    return this.host(comps).toString('utf8');
  }

  /** lstat inside the root; undefined when nothing is there (or a parent is not a directory). */
  lstat(comps: readonly string[]): BigIntStats | undefined {
    try {
      return lstatSync(this.host(comps), { bigint: true, throwIfNoEntry: false });
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOTDIR') return undefined;
      throw ioFailure('lstat', this.display(comps), err);
    }
  }

  /**
   * Resolves `comps` (already clean, see {@link entryComponents}) to real components inside the root:
   * every component that is a symlink is followed within the root. Components that do not exist are
   * kept as they are. Used for the parent part of a name; the caller appends the final component.
   */
  resolve(comps: readonly string[]): string[] {
    const out: string[] = [];
    const queue = comps.slice().reverse(); // pop() takes the next component
    let hops = 0;
    let missing = false; // once a component is missing, nothing below it can be a symlink
    while (queue.length > 0) {
      const c = queue.pop()!;
      if (c === '' || c === '.') continue;
      if (c === '..') {
        out.pop(); // ".." at the root stays at the root
        missing = false;
        continue;
      }
      out.push(c);
      if (missing) continue;
      const st = this.lstat(out);
      if (!st) {
        missing = true;
        continue;
      }
      if (!isSymlink(st)) continue;
      if (++hops > MAX_SYMLINK_HOPS) {
        throw invalidArgument(`resolving ${JSON.stringify(displayName(comps.join('/')))}: too many levels of symbolic links`);
      }
      let target: Buffer;
      try {
        target = readlinkSync(this.host(out), { encoding: 'buffer' });
      } catch (err) {
        throw ioFailure('readlink', this.display(out), err);
      }
      out.pop();
      const t = target.toString('latin1');
      if (t.startsWith('/')) out.length = 0;
      const parts = t.split('/');
      for (let i = parts.length - 1; i >= 0; i--) queue.push(parts[i]!);
    }
    return out;
  }
}
