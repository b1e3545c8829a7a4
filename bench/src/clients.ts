/** gRPC clients of the containerd v1 API (Namespaces, Events, Content, Containers, Snapshots) over a unix socket, with grpc-js. */
import * as grpc from '@grpc/grpc-js';
import {
  CONTAINERS_PROTO,
  CONTENT_PROTO,
  EVENTS_PROTO,
  EVENT_TYPES_PROTOS,
  LEASES_PROTO,
  NAMESPACES_PROTO,
  SNAPSHOTS_PROTO,
  decodeAny,
  loadGrpcPackage,
  loadRoot,
} from '@flotilla/protos';

/** Max send/receive message size, as containerd's clients use. */
export const MAX_MESSAGE = 16 * 1024 * 1024;
/** Deadline of every unary call, so a stuck daemon fails the bench instead of hanging it. */
export const CALL_TIMEOUT_MS = 60_000;
/** gRPC metadata key of the containerd namespace. */
export const NAMESPACE_KEY = 'containerd-namespace';
/** gRPC metadata key of the lease a call's new resources are added to. */
export const LEASE_KEY = 'containerd-lease';
/**
 * Namespace sent with every call, as ctr and containerd's Go client do. containerd needs it even on
 * Namespaces.Create: it publishes the /namespaces/create event in the caller's namespace and fails
 * the call with "failed publishing event: namespace is required" without one.
 */
export const DEFAULT_NAMESPACE = 'default';

export interface Namespace {
  name: string;
  labels: Record<string, string>;
}

/** An event envelope as received from Events.Subscribe. */
export interface Envelope {
  timestamp?: { seconds: string; nanos: number };
  namespace: string;
  topic: string;
  event?: { type_url: string; value: Buffer };
}

/** A google.protobuf.Any as grpc-js sends and receives it. */
export interface AnyMessage {
  type_url: string;
  value: Buffer;
}

/** A container record (containerd.services.containers.v1.Container; the fields the bench uses). */
export interface ContainerMessage {
  id: string;
  labels?: Record<string, string>;
  image?: string;
  runtime?: { name: string; options?: AnyMessage | null };
  spec?: AnyMessage | null;
  snapshotter?: string;
  snapshot_key?: string;
}

/** A snapshot's info as Snapshots.List returns it (kind: 1 view, 2 active, 3 committed). */
export interface SnapshotInfo {
  name: string;
  parent: string;
  kind: number;
}

/** Content.Write actions (containerd.services.content.v1.WriteAction). */
export const WriteAction = { STAT: 0, WRITE: 1, COMMIT: 2 } as const;

/** A Content.Write request (proto field names). */
export interface WriteRequest {
  action: number;
  ref: string;
  total?: number;
  expected?: string;
  offset?: number;
  data?: Buffer;
  labels?: Record<string, string>;
}

/** A Content.Write response (int64s arrive as decimal strings). */
export interface WriteResponse {
  action: number;
  offset: string;
  total: string;
  digest: string;
}

/** One Content.Write stream driven in lock step: every request waits for its response. */
export interface LockStepWriter {
  send(req: WriteRequest): Promise<WriteResponse>;
  /** Half-closes the stream and waits for the server to end it. */
  close(): Promise<void>;
  /** Cancels the stream (on error). */
  cancel(): void;
}

type Ctor = new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ClientOptions) => grpc.Client;

let loaded: { namespaces: Ctor; events: Ctor; content: Ctor; containers: Ctor; snapshots: Ctor; leases: Ctor; root: ReturnType<typeof loadRoot> } | undefined;

/** The client constructors and the event-payload Root (loaded once per process). */
function protos() {
  if (!loaded) {
    const pkg = grpc.loadPackageDefinition(
      loadGrpcPackage([NAMESPACES_PROTO, EVENTS_PROTO, CONTENT_PROTO, CONTAINERS_PROTO, SNAPSHOTS_PROTO, LEASES_PROTO, ...EVENT_TYPES_PROTOS]),
    ) as any;
    loaded = {
      namespaces: pkg.containerd.services.namespaces.v1.Namespaces,
      events: pkg.containerd.services.events.v1.Events,
      content: pkg.containerd.services.content.v1.Content,
      containers: pkg.containerd.services.containers.v1.Containers,
      snapshots: pkg.containerd.services.snapshots.v1.Snapshots,
      leases: pkg.containerd.services.leases.v1.Leases,
      root: loadRoot(EVENT_TYPES_PROTOS),
    };
  }
  return loaded;
}

/** Metadata carrying `containerd-namespace: namespace` (and `containerd-lease: lease` when given). */
function nsMetadata(namespace = DEFAULT_NAMESPACE, lease?: string): grpc.Metadata {
  const md = new grpc.Metadata();
  if (namespace) md.set(NAMESPACE_KEY, namespace);
  if (lease) md.set(LEASE_KEY, lease);
  return md;
}

/** Clients of one daemon, sharing one channel (one HTTP/2 connection, like containerd's Go client). */
export class DaemonClients {
  readonly namespaces: grpc.Client;
  readonly events: grpc.Client;
  readonly content: grpc.Client;
  readonly containers: grpc.Client;
  readonly snapshots: grpc.Client;
  readonly leases: grpc.Client;
  private readonly root: ReturnType<typeof loadRoot>;

  constructor(readonly address: string) {
    const p = protos();
    const options: grpc.ClientOptions = {
      'grpc.max_receive_message_length': MAX_MESSAGE,
      'grpc.max_send_message_length': MAX_MESSAGE,
      // A private connection per daemon and per DaemonClients, not grpc-js's global subchannel pool.
      'grpc.use_local_subchannel_pool': 1,
    };
    this.namespaces = new p.namespaces(`unix:${address}`, grpc.credentials.createInsecure(), options);
    const shared = { ...options, channelOverride: this.namespaces.getChannel() };
    this.events = new p.events(`unix:${address}`, grpc.credentials.createInsecure(), shared);
    this.content = new p.content(`unix:${address}`, grpc.credentials.createInsecure(), shared);
    this.containers = new p.containers(`unix:${address}`, grpc.credentials.createInsecure(), shared);
    this.snapshots = new p.snapshots(`unix:${address}`, grpc.credentials.createInsecure(), shared);
    this.leases = new p.leases(`unix:${address}`, grpc.credentials.createInsecure(), shared);
    this.root = p.root;
  }

  /** Resolves once the channel is connected. */
  ready(timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => this.namespaces.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())));
  }

  /** A unary call carrying `containerd-namespace: namespace` (and `containerd-lease: lease` when given). */
  unary<Res>(client: grpc.Client, method: string, req: object, namespace = DEFAULT_NAMESPACE, lease?: string): Promise<Res> {
    const md = nsMetadata(namespace, lease);
    return new Promise((resolve, reject) => {
      (client as any)[method](req, md, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err: grpc.ServiceError | null, res: Res) => (err ? reject(err) : resolve(res)));
    });
  }

  createNamespace(name: string, labels: Record<string, string> = {}): Promise<{ namespace: Namespace }> {
    return this.unary(this.namespaces, 'Create', { namespace: { name, labels } });
  }
  getNamespace(name: string): Promise<{ namespace: Namespace }> {
    return this.unary(this.namespaces, 'Get', { name });
  }
  listNamespaces(): Promise<{ namespaces: Namespace[] }> {
    return this.unary(this.namespaces, 'List', {});
  }
  deleteNamespace(name: string): Promise<object> {
    return this.unary(this.namespaces, 'Delete', { name });
  }

  /** A server stream's messages, collected (fails on a stream error). */
  async collect<Res>(client: grpc.Client, method: string, req: object, namespace = DEFAULT_NAMESPACE): Promise<Res[]> {
    const stream = (client as any)[method](req, nsMetadata(namespace), { deadline: Date.now() + CALL_TIMEOUT_MS }) as grpc.ClientReadableStream<Res>;
    const out: Res[] = [];
    for await (const m of stream) out.push(m);
    return out;
  }

  // Content (the default namespace).

  /** Opens a Content.Write stream, to be driven in lock step (like containerd's remote writer). */
  openWrite(namespace = DEFAULT_NAMESPACE): LockStepWriter {
    const call = (this.content as any).Write(nsMetadata(namespace)) as grpc.ClientDuplexStream<WriteRequest, WriteResponse>;
    let waiting: { resolve(r: WriteResponse): void; reject(err: unknown): void } | undefined;
    let failure: unknown;
    let ended = false;
    // containerd 1.6 answers a COMMIT twice (the Go client reads only the first answer); later answers are ignored.
    let committed = false;
    const endWaiters: Array<{ resolve(): void; reject(err: unknown): void }> = [];
    const fail = (err: unknown) => {
      failure ??= err;
      waiting?.reject(err);
      waiting = undefined;
      for (const w of endWaiters.splice(0)) w.reject(err);
    };
    call.on('data', (r: WriteResponse) => {
      const w = waiting;
      waiting = undefined;
      if (w) {
        committed ||= r.action === WriteAction.COMMIT;
        w.resolve(r);
      } else if (!committed) fail(new Error(`Content.Write: response without a request: ${JSON.stringify(r).slice(0, 300)}`));
    });
    call.on('error', fail);
    call.on('end', () => {
      ended = true;
      if (waiting) fail(new Error('Content.Write: stream ended before the response'));
      for (const w of endWaiters.splice(0)) w.resolve();
    });
    return {
      send: (req) =>
        new Promise<WriteResponse>((resolve, reject) => {
          if (failure) return reject(failure);
          if (waiting) return reject(new Error('Content.Write: a request is already waiting'));
          waiting = { resolve, reject };
          call.write(req);
        }),
      close: () =>
        new Promise<void>((resolve, reject) => {
          if (failure) return reject(failure);
          if (ended) return resolve();
          endWaiters.push({ resolve, reject });
          call.end();
        }),
      cancel: () => call.cancel(),
    };
  }

  /** Content.Read of a whole blob; `onData` sees every chunk in order. */
  async readContent(digest: string, onData: (data: Buffer, offset: number) => void, namespace = DEFAULT_NAMESPACE): Promise<void> {
    const stream = (this.content as any).Read({ digest, offset: 0, size: 0 }, nsMetadata(namespace)) as grpc.ClientReadableStream<{ offset: string; data: Buffer }>;
    for await (const m of stream) onData(m.data, Number(m.offset));
  }
  contentInfo(digest: string): Promise<{ info: { digest: string; size: string } }> {
    return this.unary(this.content, 'Info', { digest });
  }
  deleteContent(digest: string): Promise<object> {
    return this.unary(this.content, 'Delete', { digest });
  }
  async listContent(): Promise<{ digest: string; size: string }[]> {
    return (await this.collect<{ info: { digest: string; size: string }[] }>(this.content, 'List', { filters: [] })).flatMap((m) => m.info);
  }

  // Containers.

  createContainer(container: ContainerMessage): Promise<{ container: ContainerMessage }> {
    return this.unary(this.containers, 'Create', { container });
  }
  getContainer(id: string): Promise<{ container: ContainerMessage }> {
    return this.unary(this.containers, 'Get', { id });
  }
  listContainers(filters: string[] = []): Promise<{ containers: ContainerMessage[] }> {
    return this.unary(this.containers, 'List', { filters });
  }
  deleteContainer(id: string): Promise<object> {
    return this.unary(this.containers, 'Delete', { id });
  }

  // Snapshots.

  /** Snapshots.Prepare; without a lease (or a gc.root label) the next GC may remove the snapshot. */
  prepareSnapshot(snapshotter: string, key: string, parent = '', lease?: string): Promise<{ mounts: { type: string; source: string; options: string[] }[] }> {
    return this.unary(this.snapshots, 'Prepare', { snapshotter, key, parent }, DEFAULT_NAMESPACE, lease);
  }
  commitSnapshot(snapshotter: string, name: string, key: string, lease?: string): Promise<object> {
    return this.unary(this.snapshots, 'Commit', { snapshotter, name, key }, DEFAULT_NAMESPACE, lease);
  }
  removeSnapshot(snapshotter: string, key: string): Promise<object> {
    return this.unary(this.snapshots, 'Remove', { snapshotter, key });
  }
  async listSnapshots(snapshotter: string, filters: string[] = []): Promise<SnapshotInfo[]> {
    return (await this.collect<{ info: SnapshotInfo[] }>(this.snapshots, 'List', { snapshotter, filters })).flatMap((m) => m.info);
  }

  // Leases.

  createLease(id: string, labels: Record<string, string> = {}): Promise<object> {
    return this.unary(this.leases, 'Create', { id, labels });
  }
  /** Leases.Delete; `sync` waits for the garbage collection it triggers. */
  deleteLease(id: string, sync = false): Promise<object> {
    return this.unary(this.leases, 'Delete', { id, sync });
  }

  /** Events.Subscribe with containerd filters; cancel the returned stream to unsubscribe. */
  subscribe(filters: string[]): grpc.ClientReadableStream<Envelope> {
    const md = new grpc.Metadata();
    md.set(NAMESPACE_KEY, DEFAULT_NAMESPACE); // ignored by Subscribe (it sees every namespace), sent as ctr does
    return (this.events as any).Subscribe({ filters }, md) as grpc.ClientReadableStream<Envelope>;
  }

  /** The decoded payload of an event (e.g. `{name, labels}` of a NamespaceCreate). */
  decode(env: Envelope): Record<string, unknown> | undefined {
    return env.event ? decodeAny(this.root, env.event) : undefined;
  }

  close(): void {
    this.snapshots.close();
    this.containers.close();
    this.content.close();
    this.events.close();
    this.namespaces.close();
  }
}

/** Whether an error is a gRPC status with this code. */
export function isCode(err: unknown, code: grpc.status): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
