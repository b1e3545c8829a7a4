/**
 * Keys of the `objects` database (ordered-binary arrays, so ranges list a namespace's objects of
 * one kind in order):
 *
 *   [<ns>, "content",  <digest>]                        → ContentRecord
 *   [<ns>, "leases",   <id>]                            → LeaseRecord
 *   [<ns>, "leasedby", <lease id>, <type>, <id>]        → 1   (resources of a lease)
 *
 * Later kinds (images, containers, snapshots) follow the same shape: [<ns>, <kind>, <id>, ...].
 */

/** Key of one object. */
export type ObjectKey = (string | number)[];

/** Largest string that sorts after every id (for range ends). */
export const KEY_END = '\uffff';

/** Range covering every object of `kind` in `ns`. */
export function kindRange(ns: string, kind: string): { start: ObjectKey; end: ObjectKey } {
  return { start: [ns, kind], end: [ns, kind, KEY_END] };
}

/** Range covering every key that starts with `prefix`. */
export function prefixRange(prefix: ObjectKey): { start: ObjectKey; end: ObjectKey } {
  return { start: prefix, end: [...prefix, KEY_END] };
}
