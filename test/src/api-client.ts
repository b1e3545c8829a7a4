/**
 * A small grpc-js client of the containerd v1 API for system tests: one channel per socket, the
 * Namespaces, Events, Introspection, Version and Health services, and unary calls that resolve to
 * `{ code, details, value }` instead of throwing, so tests can compare status codes directly.
 */
import * as grpc from '@grpc/grpc-js';
import {
  EVENTS_PROTO,
  EVENT_TYPES_PROTOS,
  HEALTH_PROTO,
  INTROSPECTION_PROTO,
  NAMESPACES_PROTO,
  VERSION_PROTO,
  loadGrpcPackage,
} from '@flotilla/protos';

/** The outcome of one unary call. */
export interface RpcResult<T = any> {
  /** gRPC status code (0 = OK). */
  code: number;
  details: string;
  value?: T;
  /** Wall time of the call, in milliseconds. */
  ms: number;
}

/** Options of one call. */
export interface RpcOptions {
  /** Sent as `containerd-namespace` metadata (any string, valid or not). */
  namespace?: string;
  /** Deadline, from now; default 10 s. */
  timeoutMs?: number;
}

/** A containerd `Envelope` as grpc-js decodes it. */
export interface Envelope {
  timestamp?: { seconds: string; nanos: number };
  namespace: string;
  topic: string;
  event?: { type_url: string; value: Buffer };
}

type Ctor = new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => grpc.Client;

let pkg: any;
function services(): any {
  pkg ??= grpc.loadPackageDefinition(loadGrpcPackage([NAMESPACES_PROTO, EVENTS_PROTO, INTROSPECTION_PROTO, VERSION_PROTO, HEALTH_PROTO, ...EVENT_TYPES_PROTOS]));
  return pkg;
}

/** Metadata carrying `containerd-namespace` when given. */
export function callMetadata(namespace?: string): grpc.Metadata {
  const md = new grpc.Metadata();
  if (namespace !== undefined) md.set('containerd-namespace', namespace);
  return md;
}

/** Protobuf bytes of a message whose field 1 is the string `name` (NamespaceCreate/Delete). */
export function nameMessage(name: string): Buffer {
  const b = Buffer.from(name, 'utf8');
  if (b.length > 127) throw new Error('name too long for this encoder');
  return Buffer.concat([Buffer.from([0x0a, b.length]), b]);
}

/** The `name` field of a NamespaceCreate/Update/Delete payload (field 1, short strings). */
export function nameOf(env: Envelope): string | undefined {
  const v = env.event?.value;
  if (!v || v.length < 2 || v[0] !== 0x0a) return undefined;
  return v.subarray(2, 2 + v[1]).toString('utf8');
}

/** A live `Events.Subscribe` call. */
export interface Subscription {
  /** Every envelope received so far. */
  events: Envelope[];
  /** Resolves with the first received envelope (past or future) that matches, or rejects after `ms`. */
  next(match: (e: Envelope) => boolean, ms: number): Promise<Envelope>;
  /** Resolves when the call ends: the status it ended with. */
  status: Promise<{ code: number; details: string }>;
  cancel(): void;
}

/** Clients of the containerd API on one unix socket. */
export class ApiClient {
  readonly namespaces: grpc.Client;
  readonly events: grpc.Client;
  readonly introspection: grpc.Client;
  readonly version: grpc.Client;
  readonly health: grpc.Client;
  readonly channel: grpc.Channel;

  constructor(
    readonly address: string,
    options: grpc.ChannelOptions = {},
  ) {
    const s = services();
    const creds = grpc.credentials.createInsecure();
    // One channel shared by the five service clients.
    this.channel = new grpc.Channel(`unix:${address}`, creds, options);
    const make = (C: Ctor) => new C(`unix:${address}`, creds, { channelOverride: this.channel });
    this.namespaces = make(s.containerd.services.namespaces.v1.Namespaces);
    this.events = make(s.containerd.services.events.v1.Events);
    this.introspection = make(s.containerd.services.introspection.v1.Introspection);
    this.version = make(s.containerd.services.version.v1.Version);
    this.health = make(s.grpc.health.v1.Health);
  }

  /** Calls `client.method(req)`; never throws. */
  call<T = any>(client: grpc.Client, method: string, req: object, opts: RpcOptions = {}): Promise<RpcResult<T>> {
    const t0 = performance.now();
    return new Promise((resolve) => {
      (client as any)[method](req, callMetadata(opts.namespace), { deadline: Date.now() + (opts.timeoutMs ?? 10_000) }, (err: grpc.ServiceError | null, value: T) => {
        const ms = performance.now() - t0;
        if (err) resolve({ code: err.code, details: err.details, ms });
        else resolve({ code: 0, details: '', value, ms });
      });
    });
  }

  /** Namespaces.Create. */
  createNamespace(name: string, labels: Record<string, string> = {}, opts?: RpcOptions) {
    return this.call<{ namespace: { name: string; labels: Record<string, string> } }>(this.namespaces, 'Create', { namespace: { name, labels } }, opts);
  }

  /** Namespaces.List: the names, or throws on an error status. */
  async namespaceNames(opts?: RpcOptions): Promise<string[]> {
    const r = await this.call<{ namespaces: { name: string }[] }>(this.namespaces, 'List', {}, opts);
    if (r.code !== 0) throw new Error(`Namespaces.List: code ${r.code}: ${r.details}`);
    return r.value!.namespaces.map((n) => n.name);
  }

  /** Opens `Events.Subscribe` with `filters`. */
  subscribe(filters: string[], opts: { timeoutMs?: number } = {}): Subscription {
    const call = (this.events as any).Subscribe({ filters }, callMetadata(), { deadline: Date.now() + (opts.timeoutMs ?? 60_000) }) as grpc.ClientReadableStream<Envelope>;
    const events: Envelope[] = [];
    const waiters = new Set<() => void>();
    call.on('data', (e: Envelope) => {
      events.push(e);
      for (const w of [...waiters]) w();
    });
    const status = new Promise<{ code: number; details: string }>((resolve) => {
      call.on('error', (err: grpc.ServiceError) => resolve({ code: err.code, details: err.details }));
      call.on('status', (s: grpc.StatusObject) => resolve({ code: s.code, details: s.details }));
    });
    return {
      events,
      status,
      cancel: () => call.cancel(),
      next: (match, ms) =>
        new Promise<Envelope>((resolve, reject) => {
          const check = () => {
            const found = events.find(match);
            if (found) {
              waiters.delete(check);
              clearTimeout(t);
              resolve(found);
            }
          };
          const t = setTimeout(() => {
            waiters.delete(check);
            reject(new Error(`no matching event within ${ms} ms (got ${events.map((e) => `${e.namespace} ${e.topic}`).join(', ') || 'none'})`));
          }, ms);
          waiters.add(check);
          check();
        }),
    };
  }

  close(): void {
    this.channel.close();
  }
}
