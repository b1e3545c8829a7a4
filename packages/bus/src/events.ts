/** Event envelopes on the bus (`flotilla.events.<topic tokens>`). */

/** A containerd event payload: the proto type name and either its fields or its encoded bytes. */
export interface EventPayload {
  /** Full proto name, e.g. `containerd.events.NamespaceCreate` (containerd's type URL). */
  type_url: string;
  /** The event's fields by proto field name (snake_case), or the protobuf-encoded message. */
  value: Record<string, unknown> | Uint8Array;
}

/** containerd's Envelope, as it travels on the bus. */
export interface Envelope {
  timestamp: { seconds: number; nanos: number };
  namespace: string;
  topic: string;
  event: EventPayload;
}
