/** gRPC clients of the containerd v1 API (Namespaces, Events) over a unix socket, with grpc-js. */
import * as grpc from '@grpc/grpc-js';
import { EVENTS_PROTO, EVENT_TYPES_PROTOS, NAMESPACES_PROTO, decodeAny, loadGrpcPackage, loadRoot } from '@flotilla/protos';

/** Max send/receive message size, as containerd's clients use. */
export const MAX_MESSAGE = 16 * 1024 * 1024;
/** Deadline of every unary call, so a stuck daemon fails the bench instead of hanging it. */
export const CALL_TIMEOUT_MS = 60_000;
/** gRPC metadata key of the containerd namespace. */
export const NAMESPACE_KEY = 'containerd-namespace';
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

type Ctor = new (address: string, creds: grpc.ChannelCredentials, options?: grpc.ClientOptions) => grpc.Client;

let loaded: { namespaces: Ctor; events: Ctor; root: ReturnType<typeof loadRoot> } | undefined;

/** The client constructors and the event-payload Root (loaded once per process). */
function protos() {
  if (!loaded) {
    const pkg = grpc.loadPackageDefinition(loadGrpcPackage([NAMESPACES_PROTO, EVENTS_PROTO, ...EVENT_TYPES_PROTOS])) as any;
    loaded = {
      namespaces: pkg.containerd.services.namespaces.v1.Namespaces,
      events: pkg.containerd.services.events.v1.Events,
      root: loadRoot(EVENT_TYPES_PROTOS),
    };
  }
  return loaded;
}

/** Clients of one daemon, sharing one channel (one HTTP/2 connection, like containerd's Go client). */
export class DaemonClients {
  readonly namespaces: grpc.Client;
  readonly events: grpc.Client;
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
    this.events = new p.events(`unix:${address}`, grpc.credentials.createInsecure(), { ...options, channelOverride: this.namespaces.getChannel() });
    this.root = p.root;
  }

  /** Resolves once the channel is connected. */
  ready(timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => this.namespaces.waitForReady(Date.now() + timeoutMs, (err) => (err ? reject(err) : resolve())));
  }

  /** A unary call carrying `containerd-namespace: namespace`. */
  unary<Res>(client: grpc.Client, method: string, req: object, namespace = DEFAULT_NAMESPACE): Promise<Res> {
    const md = new grpc.Metadata();
    if (namespace) md.set(NAMESPACE_KEY, namespace);
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
    this.events.close();
    this.namespaces.close();
  }
}

/** Whether an error is a gRPC status with this code. */
export function isCode(err: unknown, code: grpc.status): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}
