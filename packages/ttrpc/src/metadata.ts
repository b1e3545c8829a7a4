/**
 * ttrpc request metadata: a multimap carried as a `repeated KeyValue` in the Request
 * (`ttrpc:metadata.go`). Go's `MD.Set` lower-cases keys, so keys we send are lower-cased; keys we
 * receive are kept as sent (Go's `fromRequest` does not fold them either).
 */

/** One metadata entry on the wire. */
export interface KeyValue {
  key: string;
  value: string;
}

/** Metadata as received: key → values in arrival order. */
export type Metadata = Record<string, string[]>;

/** Metadata as given by a caller: a value or a list of values per key. */
export type MetadataInit = Record<string, string | readonly string[]>;

/** The key containerd uses for the namespace on ttrpc (`namespaces/ttrpc.go`). */
export const NAMESPACE_METADATA_KEY = 'containerd-namespace-ttrpc';

/** Flattens caller metadata into wire entries (keys lower-cased, values in order). */
export function toKeyValues(md: MetadataInit | undefined): KeyValue[] {
  const out: KeyValue[] = [];
  if (!md) return out;
  for (const [k, v] of Object.entries(md)) {
    const key = k.toLowerCase();
    for (const value of typeof v === 'string' ? [v] : v) out.push({ key, value });
  }
  return out;
}

/** Collects wire entries into a multimap. */
export function fromKeyValues(kvs: readonly KeyValue[]): Metadata {
  const md: Metadata = {};
  for (const { key, value } of kvs) {
    if (Object.prototype.hasOwnProperty.call(md, key)) md[key]!.push(value);
    // defineProperty: a key such as "__proto__" must not touch the prototype.
    else Object.defineProperty(md, key, { value: [value], enumerable: true, writable: true, configurable: true });
  }
  return md;
}

/** The first value of `key` (looked up lower-cased, like Go's `MD.Get`), if any. */
export function metadataValue(md: Metadata, key: string): string | undefined {
  const k = key.toLowerCase();
  return Object.prototype.hasOwnProperty.call(md, k) ? md[k]![0] : undefined;
}
