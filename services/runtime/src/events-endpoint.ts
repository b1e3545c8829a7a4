/**
 * containerd's ttrpc endpoint for shims (`TTRPC_ADDRESS`): `containerd.services.events.ttrpc.v1
 * .Events/Forward`. Each forwarded envelope is republished on the bus unchanged (topic,
 * namespace, timestamp), with the event decoded into its fields when its type is known.
 *
 * The socket is a singleton: with several runtime replicas exactly one listens. A replica that
 * finds the address served by a live process keeps retrying, and takes over once it is gone.
 */
import { chownSync } from 'node:fs';
import type protobuf from 'protobufjs';
import { Code, codeOf, invalidArgument, messageOf } from '@flotilla/api';
import { eventSubject, type EventPayload } from '@flotilla/bus';
import type { Logger } from '@flotilla/log';
import { TtrpcServer } from '@flotilla/ttrpc';
import { toTimestamp } from './timestamps.js';
import type { Timestamp } from './types.js';

/** The ttrpc events service shims call. */
export const TTRPC_EVENTS_SERVICE = 'containerd.services.events.ttrpc.v1.Events';

/** Republishes one event (the bus's publishEvent). */
export type PublishEnvelope = (topic: string, namespace: string, event: EventPayload, timestamp?: Timestamp) => void;

/** Settings of the endpoint. */
export interface EventsEndpointOptions {
  /** Socket path (containerd's `<grpc address>.ttrpc`). */
  address: string;
  uid?: number;
  gid?: number;
  /** protobufjs root with the ttrpc events service and the event types. */
  root: protobuf.Root;
  publish: PublishEnvelope;
  log: Logger;
  /** How often a replica that does not hold the socket tries again (default 500 ms). */
  retryMs?: number;
}

interface ForwardRequest {
  envelope?: {
    timestamp?: { seconds?: unknown; nanos?: unknown } | null;
    namespace?: string;
    topic?: string;
    event?: { type_url?: string; value?: Uint8Array } | null;
  } | null;
}

/**
 * An event Any as a bus payload: its fields (numbers for 64-bit integers, enums as numbers,
 * every field present) when `root` knows the type, the raw bytes otherwise.
 */
export function eventPayload(root: protobuf.Root, any: { type_url?: string; value?: Uint8Array | null }): EventPayload {
  const url = any.type_url ?? '';
  const name = url.slice(url.lastIndexOf('/') + 1);
  const bytes = any.value ?? new Uint8Array(0);
  const type = name ? root.lookup(name) : null;
  if (type && typeof (type as protobuf.Type).decode === 'function' && (type as protobuf.Type).fieldsArray) {
    const t = type as protobuf.Type;
    try {
      const value = t.toObject(t.decode(bytes), { longs: Number, enums: Number, defaults: true }) as Record<string, unknown>;
      return { type_url: url, value };
    } catch {
      /* undecodable: pass the bytes on */
    }
  }
  return { type_url: url, value: new Uint8Array(bytes) };
}

/** The endpoint; `start()` begins listening (or waiting for the socket to be free). */
export class EventsEndpoint {
  private server: TtrpcServer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private holding = false;
  private readonly log: Logger;
  /** Envelopes republished so far. */
  forwarded = 0;

  constructor(private readonly o: EventsEndpointOptions) {
    this.log = o.log;
  }

  /** Whether this process holds the socket. */
  get listening(): boolean {
    return this.holding;
  }

  /** Handles one Forward: validates and republishes the envelope. */
  forward(req: ForwardRequest): Record<string, never> {
    const env = req.envelope;
    if (!env) throw invalidArgument('envelope must be set');
    if (!env.namespace) throw invalidArgument('envelope namespace must be set');
    const topic = env.topic ?? '';
    eventSubject(topic); // validates
    if (!env.event || !env.event.type_url) throw invalidArgument('envelope event must be set');
    const ts = env.timestamp ? toTimestamp(env.timestamp) : undefined;
    this.o.publish(topic, env.namespace, eventPayload(this.o.root, env.event), ts && (ts.seconds || ts.nanos) ? ts : undefined);
    this.forwarded++;
    return {};
  }

  /** Starts listening; retries every `retryMs` while another live process holds the socket. */
  start(): void {
    if (this.stopped || this.server) return;
    void this.tryListen();
  }

  /** Resolves once this process holds the socket (for tests and start-up ordering). */
  async waitListening(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (!this.holding && Date.now() < until && !this.stopped) await new Promise((r) => setTimeout(r, 20));
    return this.holding;
  }

  private async tryListen(): Promise<void> {
    if (this.stopped) return;
    const server = new TtrpcServer({ root: this.o.root, logger: this.log });
    server.register(TTRPC_EVENTS_SERVICE, { Forward: (req: ForwardRequest) => this.forward(req) });
    try {
      await server.listen(this.o.address, { mode: 0o660 });
      if (this.stopped) {
        server.close();
        return;
      }
      if ((this.o.uid ?? 0) !== 0 || (this.o.gid ?? 0) !== 0) chownSync(this.o.address, this.o.uid ?? 0, this.o.gid ?? 0);
      this.server = server;
      this.holding = true;
      this.log.info({ address: this.o.address }, 'ttrpc events endpoint listening');
    } catch (err) {
      server.close();
      if (codeOf(err) !== Code.AlreadyExists) this.log.warn({ err: messageOf(err), address: this.o.address }, 'cannot listen on the ttrpc address; retrying');
      else this.log.debug({ address: this.o.address }, 'ttrpc address held by another process; retrying');
      this.timer = setTimeout(() => void this.tryListen(), this.o.retryMs ?? 500);
      this.timer.unref?.();
    }
  }

  /** Stops listening (graceful for calls in flight, up to `timeoutMs`). */
  async stop(timeoutMs = 1000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const s = this.server;
    this.server = undefined;
    this.holding = false;
    if (s) await s.shutdown({ timeoutMs });
  }
}
