/**
 * The metadata LMDB environment: `<root>/io.containerd.metadata.v1.lmdb/metadata.mdb`.
 *
 * Key tree (ordered-binary array keys; values MessagePack):
 *
 *   db "namespaces":  <ns>                           → { labels, createdAt, updatedAt }
 *   db "objects":     [<ns>, <kind>, <id>, ...]      → per-kind record (images, containers, leases,
 *                                                      content, snapshots; filled by later services)
 *   db "meta":        ["schema"]                     → schema version number
 *
 * Every mutation is one LMDB write transaction; lmdb-js batches concurrent transactions into one
 * commit (one fsync) — "acknowledged" means the promise resolved after the commit.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';

/** The schema version this code writes. */
export const SCHEMA_VERSION = 1;

/** The open databases of the metadata store. */
export interface MetadataEnv {
  root: RootDatabase;
  namespaces: Database<NamespaceRecord, string>;
  objects: Database<unknown, (string | number)[]>;
  meta: Database<unknown, string[]>;
  /**
   * Runs `fn` in a write transaction that is rolled back if `fn` throws and is batched with
   * concurrent ones into one commit; resolves once durable.
   */
  write<T>(fn: () => T): Promise<T>;
  close(): Promise<void>;
}

/** A namespace as stored. */
export interface NamespaceRecord {
  labels: Record<string, string>;
  createdAt: number;
  updatedAt: number;
}

/** Options of the environment. */
export interface MetadataEnvOptions {
  /** containerd root directory; the env lives in `io.containerd.metadata.v1.lmdb` below it. */
  root: string;
  mapSizeMb?: number;
  noSync?: boolean;
}

/** Opens (creating if needed) the metadata environment. */
export function openMetadataEnv(o: MetadataEnvOptions): MetadataEnv {
  const path = join(o.root, 'io.containerd.metadata.v1.lmdb');
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const root = open({ path: join(path, 'metadata.mdb'), mapSize: (o.mapSizeMb ?? 1024) * 1024 * 1024, noSync: !!o.noSync, maxDbs: 16 });
  const meta = root.openDB<unknown, string[]>({ name: 'meta' });
  if (meta.get(['schema']) === undefined) meta.putSync(['schema'], SCHEMA_VERSION);
  return {
    root,
    namespaces: root.openDB<NamespaceRecord, string>({ name: 'namespaces' }),
    objects: root.openDB<unknown, (string | number)[]>({ name: 'objects' }),
    meta,
    // lmdb-js `transaction()` keeps writes made before a throw; `childTransaction` rolls back.
    write: (fn) => root.childTransaction(fn),
    close: () => root.close(),
  };
}
