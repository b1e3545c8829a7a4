/**
 * The content service's domain interfaces (no wire types here; the bus messages are in
 * `protocol.ts`).
 *
 * Blobs are content-addressed and shared by every namespace; which namespace sees which blob is
 * metadata's business (ARCHITECTURE §1, §3). Ingests (resumable writes in progress) are keyed by
 * (namespace, ref).
 */

/** Largest chunk `read` yields and the bus carries (bytes). */
export const READ_CHUNK = 512 * 1024;
/** Longest ingest ref, in UTF-8 bytes. */
export const MAX_REF_BYTES = 256;

/** A committed blob in the backend. */
export interface BlobInfo {
  /** `sha256:<64 lowercase hex>`. */
  digest: string;
  /** Size in bytes. */
  size: number;
}

/** The state of one ingest (containerd's `content.Status`). */
export interface IngestStatus {
  /** The ref the writer was opened with. */
  ref: string;
  /** Bytes written so far (the offset the next write must use). */
  offset: number;
  /** Announced total size; 0 when unknown. */
  total: number;
  /** Announced digest, when one was given. */
  expected?: string;
  /** When the ingest was started (epoch ms). */
  startedAt: number;
  /** When data was last written (epoch ms). */
  updatedAt: number;
}

/** What a writer announces when it is opened. */
export interface OpenOptions {
  /** Expected total size (0 or absent: unknown). */
  total?: number;
  /** Expected digest. If that blob already exists, `open` fails with AlreadyExists. */
  expected?: string;
}

/** What a commit checks. Absent values fall back to the ones given at `open`. */
export interface CommitOptions {
  /** Required size (0 or absent: the announced total, if any). */
  size?: number;
  /** Required digest. */
  expected?: string;
  /**
   * Labels to record with the blob in the caller's namespace. The local backend keeps no labels;
   * the bus service hands them to metadata when it registers the blob.
   */
  labels?: Record<string, string>;
}

/**
 * One open ingest, locked for its holder until `commit` or `close`. Operations run one at a time.
 * Any failed `write` or `commit` ends the writer, as any error ends containerd's Write stream: the
 * lock is released and the ingest stays as it is on disk (open it again to resume), except where
 * `commit` says it is discarded.
 */
export interface ContentWriter {
  /** The ref this writer holds. */
  readonly ref: string;
  /** Current status (offset = bytes written so far). */
  status(): IngestStatus;
  /** Digest of the bytes written so far (`sha256:...`). */
  digest(): string;
  /**
   * Writes `data` at `offset`, which must be the current offset, as containerd's Write service
   * demands (OutOfRange `write @N must occur at current offset M` otherwise) — except that offset 0
   * on a non-empty ingest restarts it from scratch (containerd truncates). A write that would go
   * past the announced total is InvalidArgument and writes nothing. Resolves with the new offset.
   */
  write(offset: number, data: Uint8Array): Promise<number>;
  /**
   * Makes the ingest a blob: syncs it, checks size and digest (FailedPrecondition
   * `unexpected commit size N, expected M` / `unexpected commit digest D, expected E`, the ingest is
   * kept), and moves it under `blobs/`. If the blob already exists the ingest is discarded and the
   * commit fails with AlreadyExists `content <digest>: already exists`. The writer is closed
   * afterwards, whatever the outcome.
   */
  commit(opts?: CommitOptions): Promise<BlobInfo>;
  /** Releases the lock and keeps the ingest for a later resume. Idempotent. */
  close(): Promise<void>;
}

/** The content store: blobs and ingests on disk, namespace-unaware for blobs. */
export interface ContentBackend {
  /** Size of a blob; NotFound `content <digest>: not found` when absent, InvalidArgument for a bad digest. */
  info(digest: string): Promise<BlobInfo>;
  /**
   * The bytes of a blob from `offset` (default 0), at most `size` of them (absent or ≤ 0: to the
   * end), in chunks of at most {@link READ_CHUNK} bytes. NotFound before any chunk when absent;
   * OutOfRange when `offset` is past the end. A chunk is only valid until the next one is asked
   * for (the local store reuses its buffers); copy it to keep it.
   */
  read(digest: string, offset?: number, size?: number): AsyncIterable<Uint8Array>;
  /** Status of the ingest `ref` in `namespace`; NotFound when there is none. */
  status(namespace: string, ref: string): Promise<IngestStatus>;
  /** Ingests of `namespace`, optionally filtered (containerd filter language on `ref`). */
  listStatuses(namespace: string, filters?: string[]): Promise<IngestStatus[]>;
  /** Discards the ingest `ref` (cancelling an active writer); NotFound when there is none. */
  abort(namespace: string, ref: string): Promise<void>;
  /**
   * Opens (or resumes) the ingest `ref` of `namespace` and locks it: a second writer on the same
   * ref fails with Unavailable `ref <ref> locked` until this one is committed or closed. A resumed
   * ingest starts at the bytes already on disk, with its digest recomputed from them.
   */
  open(namespace: string, ref: string, opts?: OpenOptions): Promise<ContentWriter>;
  /** Removes a blob from the backend (garbage collection only); NotFound when absent. */
  delete(digest: string): Promise<void>;
  /** Every committed blob. */
  walk(): AsyncIterable<BlobInfo>;
}
