/**
 * Ready-made adaptors: plain objects and event envelopes.
 */

import type { Adaptor, FieldValue } from './filter.js';

/** Options for {@link adaptObject}. */
export interface AdaptObjectOptions {
  /**
   * Field names holding string maps (default `["labels", "annotations"]`). When the path reaches
   * one of them, the rest of the path joined with `.` is a single map key, so `labels.a.b` looks
   * up the key `a.b` (containerd does this for labels and annotations). A present key counts as
   * present even when its value is the empty string.
   */
  mapFields?: readonly string[];
  /**
   * When a snake_case path element (`container_id`) is not a key of the object, also try its
   * camelCase spelling (`containerId`). Default `true`.
   */
  camelCaseFallback?: boolean;
  /**
   * Whether an empty string field (outside maps) counts as present. Default `false`, matching
   * containerd, whose adaptors report a string field as present only when it is non-empty.
   */
  emptyStringPresent?: boolean;
}

/** The default {@link AdaptObjectOptions.mapFields}. */
export const DEFAULT_MAP_FIELDS: readonly string[] = Object.freeze(['labels', 'annotations']);

/**
 * Adapts a plain object (or `Map`) for filtering.
 *
 * The path walks nested objects and `Map`s by key (own properties only). The value at the end
 * is reported as a string when it is a string, number, bigint or boolean; anything else
 * (objects, arrays, `null`, missing keys) is not present. See {@link AdaptObjectOptions} for
 * label maps, camelCase fallback and empty strings. An empty path is never present.
 */
export function adaptObject(obj: unknown, options: AdaptObjectOptions = {}): Adaptor {
  const settings: Settings = {
    mapFields: new Set(options.mapFields ?? DEFAULT_MAP_FIELDS),
    camelCase: options.camelCaseFallback ?? true,
    emptyPresent: options.emptyStringPresent ?? false,
  };
  return { field: (path) => lookupPath(obj, path, settings) };
}

/** An event envelope as delivered by the events service. */
export interface EventEnvelope {
  /** Namespace the event was published in. */
  namespace: string;
  /** Event topic, e.g. `/tasks/exit`. */
  topic: string;
  /**
   * The decoded event: a plain object with snake_case field names (walked with
   * {@link adaptObject}), or an {@link Adaptor} of its own. Absent when it could not be decoded.
   */
  event?: object | null;
  /** Not filterable; accepted so whole envelopes can be passed in. */
  timestamp?: unknown;
}

/**
 * Adapts an event envelope, like containerd's `Envelope.Field`: `namespace` and `topic` (present
 * when non-empty), and `event.<path>` delegated to the decoded event. Any other field, including
 * `timestamp`, is not present. `options` apply to the event object.
 */
export function adaptEnvelope(envelope: EventEnvelope, options?: AdaptObjectOptions): Adaptor {
  let eventAdaptor: Adaptor | undefined;
  const forEvent = (): Adaptor | undefined => {
    const event = envelope.event;
    if (event === undefined || event === null) return undefined;
    eventAdaptor ??= isAdaptor(event) ? event : adaptObject(event, options);
    return eventAdaptor;
  };
  return {
    field(path: string[]): FieldValue {
      switch (path[0]) {
        case 'namespace':
          return path.length === 1 ? stringField(envelope.namespace) : absent();
        case 'topic':
          return path.length === 1 ? stringField(envelope.topic) : absent();
        case 'event': {
          const adaptor = forEvent();
          return adaptor && path.length > 1 ? adaptor.field(path.slice(1)) : absent();
        }
        default:
          return absent();
      }
    },
  };
}

interface Settings {
  readonly mapFields: ReadonlySet<string>;
  readonly camelCase: boolean;
  readonly emptyPresent: boolean;
}

function lookupPath(root: unknown, path: readonly string[], settings: Settings): FieldValue {
  if (path.length === 0) return absent();
  let current = root;
  for (let k = 0; k < path.length; k++) {
    const name = path[k] as string;
    const found = child(current, name, settings.camelCase);
    if (!found) return absent();
    current = found.value;
    if (settings.mapFields.has(name) && isContainer(current)) {
      const entry = child(current, path.slice(k + 1).join('.'), false);
      return entry ? scalar(entry.value, true) : absent();
    }
  }
  return scalar(current, settings.emptyPresent);
}

/** Looks `key` up on an object or Map; `undefined` when there is no such key. */
function child(container: unknown, key: string, camelCase: boolean): { value: unknown } | undefined {
  if (container instanceof Map) {
    if (container.has(key)) return { value: container.get(key) };
  } else if (isContainer(container)) {
    if (Object.hasOwn(container, key)) return { value: (container as Record<string, unknown>)[key] };
  } else {
    return undefined;
  }
  if (camelCase && key.includes('_')) {
    const camel = key.replace(/_+([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    if (camel !== key) return child(container, camel, false);
  }
  return undefined;
}

function isContainer(value: unknown): value is object {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !ArrayBuffer.isView(value) &&
    !(value instanceof Date)
  );
}

function isAdaptor(value: object): value is Adaptor {
  return typeof (value as { field?: unknown }).field === 'function';
}

function scalar(value: unknown, emptyPresent: boolean): FieldValue {
  switch (typeof value) {
    case 'string':
      return { value, present: emptyPresent || value !== '' };
    case 'number':
    case 'bigint':
    case 'boolean':
      return { value: String(value), present: true };
    default:
      return absent();
  }
}

function stringField(value: unknown): FieldValue {
  return typeof value === 'string' && value !== '' ? { value, present: true } : absent();
}

function absent(): FieldValue {
  return { value: '', present: false };
}
