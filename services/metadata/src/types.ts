/** The metadata service's domain interfaces (no wire types here). */

/** A containerd namespace with its labels. */
export interface Namespace {
  name: string;
  labels: Record<string, string>;
}

/** Namespaces, with containerd's semantics. */
export interface NamespaceStore {
  /** Labels of `name`; an unknown (or impossible) namespace answers with empty labels (containerd behaviour). */
  get(name: string): Promise<Namespace>;
  /** Every namespace, sorted by name. */
  list(): Promise<Namespace[]>;
  /** Creates `name`; AlreadyExists when present. */
  create(name: string, labels: Record<string, string>): Promise<Namespace>;
  /**
   * Updates labels. With `paths` (`labels.<key>`), sets each named key from `labels` (an absent or
   * empty value deletes it); without, replaces all labels. Creates the namespace if needed.
   */
  update(name: string, labels: Record<string, string>, paths?: string[]): Promise<Namespace>;
  /** Deletes an empty namespace: NotFound when absent (or the name is invalid), FailedPrecondition when it still holds objects. */
  delete(name: string): Promise<void>;
}

/** Bus method names of the metadata service. */
export const METADATA_SERVICE = 'metadata';

/** The metadata service's bus contract. */
export type MetadataContract = {
  'Namespaces.Get': { req: { name: string }; res: { namespace: Namespace } };
  'Namespaces.List': { req: Record<string, never>; res: { namespaces: Namespace[] } };
  'Namespaces.Create': { req: { namespace: Namespace }; res: { namespace: Namespace } };
  'Namespaces.Update': { req: { namespace: Namespace; update_mask?: string[] }; res: { namespace: Namespace } };
  'Namespaces.Delete': { req: { name: string }; res: Record<string, never> };
};
