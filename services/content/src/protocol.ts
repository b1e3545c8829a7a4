/**
 * The content service's bus messages (subjects `flotilla.content.v1.<Method>`), field names in
 * containerd's snake_case. Times are epoch milliseconds. Only `server.ts` and `client.ts` use these.
 *
 * | method | kind | request | reply |
 * |---|---|---|---|
 * | `Write` | duplex stream, lock-step | {@link WriteRequest} (the opening message is the first one) | one {@link WriteResponse} per request |
 * | `Read` | server stream | {@link ReadRequest} | {@link ReadChunk} items |
 * | `ReadAt` | unary | `{digest, offset?, size}` (1 ≤ size ≤ 512 KiB) | `{data}` (shorter only at the end of the blob) |
 * | `Status` | unary | `{ref}` | `{status: WireStatus}` |
 * | `ListStatuses` | unary | `{filters?: string[]}` | `{statuses: WireStatus[]}` |
 * | `Abort` | unary | `{ref}` | `{}` |
 * | `Info` | unary | `{digest}` | `{digest, size}` |
 * | `Delete` | unary | `{digest}` | `{}` |
 * | `Walk` | server stream | `{}` | `{digest, size}` items |
 *
 * `Write`, `Status`, `ListStatuses` and `Abort` need the caller's namespace (`fl-namespace`); the
 * others work on the shared blobs.
 */

/** Service name on the bus. */
export const CONTENT_SERVICE = 'content';

/** What a Write message asks for. */
export type WriteAction = 'stat' | 'write' | 'commit';

/** One client message of the `Write` stream. */
export interface WriteRequest {
  /** Absent: `stat`. */
  action?: WriteAction;
  /** The ingest ref; required on the first message, ignored afterwards. */
  ref?: string;
  /** Announced (or, on commit, required) total size; 0/absent: unknown. */
  total?: number;
  /** Announced (or, on commit, required) digest. If that blob exists, the stream fails with AlreadyExists after registering it in the namespace. */
  expected?: string;
  /** Where `data` goes: must be the current offset; 0 restarts the ingest; absent: the current offset. */
  offset?: number;
  /** Bytes to append (at most 512 KiB per message). */
  data?: Uint8Array;
  /** Labels of the committed blob (commit only). */
  labels?: Record<string, string>;
}

/** The reply to one Write message. */
export interface WriteResponse {
  action: WriteAction;
  started_at: number;
  updated_at: number;
  /** Bytes in the ingest after the message (the committed size after a commit). */
  offset: number;
  total: number;
  /** Digest of the bytes so far (the blob's digest after a commit). */
  digest?: string;
}

/** Opening message of `Read`. */
export interface ReadRequest {
  digest: string;
  offset?: number;
  /** Bytes to read; 0/absent: to the end. */
  size?: number;
}

/** One item of the `Read` stream. */
export interface ReadChunk {
  /** Position of `data` in the blob. */
  offset: number;
  data: Uint8Array;
}

/** An ingest's status on the wire. */
export interface WireStatus {
  ref: string;
  offset: number;
  total: number;
  expected?: string;
  started_at: number;
  updated_at: number;
}

/** The unary methods of the content service. */
export type ContentContract = {
  Status: { req: { ref: string }; res: { status: WireStatus } };
  ListStatuses: { req: { filters?: string[] }; res: { statuses: WireStatus[] } };
  Abort: { req: { ref: string }; res: Record<string, never> };
  Info: { req: { digest: string }; res: { digest: string; size: number } };
  ReadAt: { req: { digest: string; offset?: number; size: number }; res: { data: Uint8Array } };
  Delete: { req: { digest: string }; res: Record<string, never> };
};

/** Service and method the content service calls to register a committed blob in a namespace (metadata). */
export const REGISTER_SERVICE = 'metadata';
/** The metadata method that records a committed blob in a namespace. */
export const REGISTER_METHOD = 'Content.Register';

/**
 * `metadata` `Content.Register`, called with the writer's namespace and lease (`fl-namespace`,
 * `fl-lease`): records the blob in the namespace (and the lease). `exclusive: true` fails with
 * AlreadyExists when the namespace already has the blob; `exclusive: false` succeeds then.
 */
export interface RegisterRequest {
  digest: string;
  size: number;
  labels?: Record<string, string>;
  exclusive: boolean;
}
