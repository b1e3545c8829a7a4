/**
 * The on-disk layout of the local content store, containerd's `io.containerd.content.v1.content`
 * layout plus a few files of our own. Every path is built here, and only from validated digests
 * (`digestHex`) or from hashes of (namespace, ref) — never from caller text directly.
 *
 * ```
 * <root>/io.containerd.content.v1.content/        (= `dir` below)
 *   blobs/
 *     sha256/
 *       <hex>                     committed blob, read-only (0444); appears by link(2) from an
 *                                 ingest's fsynced `data`, so it is never partially visible
 *   ingest/
 *     <sha256hex("<namespace>/<ref>")>/            one resumable write
 *       data                      the bytes written so far (offset = its size)
 *       ref                       the ref text, as given
 *       namespace                 the namespace the ingest belongs to        (Flotilla)
 *       startedat                 RFC 3339 time the ingest began
 *       updatedat                 RFC 3339 time of the last write, refreshed on close
 *                                 (the mtime of `data` may be newer; status takes the later one)
 *       total                     announced total size, decimal (absent when unknown)
 *       expected                  announced digest (absent when none)       (Flotilla)
 *       lock                      `<pid> <start time>` of the writer's process (Flotilla)
 *       <file>.tmp                a metadata file being replaced (crash leftover)
 *     <hash>.<uuid>.tmp/          an ingest being aborted (crash leftover)
 * ```
 *
 * Files marked (Flotilla) are ours; containerd ignores them, and the rest is what containerd
 * reads, so a containerd pointed at the same root sees the same blobs and ingests.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';

/** Folder of the content plugin under the configured root. */
export const CONTENT_DIR = 'io.containerd.content.v1.content';

/** Paths of one ingest. */
export interface IngestPaths {
  /** The ingest folder. */
  dir: string;
  data: string;
  ref: string;
  namespace: string;
  startedat: string;
  updatedat: string;
  total: string;
  expected: string;
  lock: string;
}

/** Path builder of a content store folder. */
export class ContentLayout {
  /** `<dir>/blobs/sha256`. */
  readonly blobDir: string;
  /** `<dir>/ingest`. */
  readonly ingestRoot: string;

  constructor(readonly dir: string) {
    this.blobDir = join(dir, 'blobs', 'sha256');
    this.ingestRoot = join(dir, 'ingest');
  }

  /** `blobs/sha256/<hex>`; `hex` must come from `digestHex`. */
  blob(hex: string): string {
    return join(this.blobDir, hex);
  }

  /** The folder name of the ingest (namespace, ref): sha256 of `<namespace>/<ref>`, in hex. */
  static ingestKey(namespace: string, ref: string): string {
    return createHash('sha256').update(`${namespace}/${ref}`).digest('hex');
  }

  /** Paths of the ingest with folder name `key` (from `ingestKey` or a directory listing). */
  ingest(key: string): IngestPaths {
    const dir = join(this.ingestRoot, key);
    return {
      dir,
      data: join(dir, 'data'),
      ref: join(dir, 'ref'),
      namespace: join(dir, 'namespace'),
      startedat: join(dir, 'startedat'),
      updatedat: join(dir, 'updatedat'),
      total: join(dir, 'total'),
      expected: join(dir, 'expected'),
      lock: join(dir, 'lock'),
    };
  }

  /** Where an ingest goes while it is being removed: `ingest/<key>.<unique>.tmp`. */
  graveyard(key: string, unique: string): string {
    return join(this.ingestRoot, `${key}.${unique}.tmp`);
  }
}

/** Whether a name in `ingest/` is an ingest folder (64 hex) rather than a leftover. */
export function isIngestKey(name: string): boolean {
  return /^[0-9a-f]{64}$/.test(name);
}
