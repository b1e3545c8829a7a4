/**
 * The bus: typed request/reply, streams, events, introspection and health over NATS, exactly as
 * ARCHITECTURE §2 and docs/bus.md describe. Only this package and the gateway speak NATS.
 */
import { connect, type Msg, type NatsConnection, type Subscription } from 'nats';
import { randomUUID } from 'node:crypto';
import {
  Code,
  FlotillaError,
  canceled,
  codeOf,
  deadlineExceeded,
  invalidArgument,
  kindError,
  messageOf,
  unavailable,
  unimplemented,
  type HealthInfo,
  type ProcessInfo,
} from '@flotilla/api';
import { silentLogger, type Logger } from '@flotilla/log';
import { Channel, DEFAULT_WINDOW, type Duplex } from './channel.js';
import { decodeBody, encodeBody } from './codec.js';
import type { CallContext, CallOptions } from './context.js';
import {
  H_CREDIT,
  H_HEARTBEAT,
  H_KIND,
  H_LEASE,
  H_NAMESPACE,
  H_REQUEST_ID,
  H_STREAM,
  H_TIMEOUT,
  errorFromHeaders,
  isNoResponders,
  newHeaders,
  setErrorHeaders,
} from './headers.js';
import { InboxMux } from './mux.js';
import { EVENTS_PREFIX, INTROSPECT_SUBJECT, eventSubject, healthSubject, methodSubject, serviceWildcard } from './subjects.js';
import type { Envelope, EventPayload } from './events.js';

const resourceExhausted = (context: string) => kindError(Code.ResourceExhausted, context);

/** Handles a unary call. */
export type UnaryHandler<Req = any, Res = any> = (req: Req, ctx: CallContext) => Promise<Res> | Res;
/** Handles a stream: receives the opening message, then talks over the duplex. */
export type StreamHandler<Req = any, Out = any, In = any> = (req: Req, stream: Duplex<Out, In>, ctx: CallContext) => Promise<void>;

/** Handlers of one service, by method name (e.g. `Namespaces.Create`). */
export interface ServiceHandlers {
  unary?: Record<string, UnaryHandler>;
  streams?: Record<string, StreamHandler>;
}

/** How to reach the bus. */
export interface BusOptions {
  /** nats:// URL(s). */
  servers: string | string[];
  user?: string;
  pass?: string;
  /** Name of this process on the bus (shown by the NATS server). */
  name: string;
  log?: Logger;
  /** Timeout of calls that give none. */
  requestTimeoutMs?: number;
  /** Liveness interval of long calls and streams. */
  heartbeatMs?: number;
  /** Fail at once instead of retrying when the server is not up yet. */
  noWaitOnFirstConnect?: boolean;
}

/** How a stream is opened. */
export interface StreamOptions extends CallOptions {
  /** The caller sends more than the first message (client-streaming or bidi). */
  duplex?: boolean;
  /** Receive window in messages. */
  window?: number;
}

/** A connection to the bus. */
export class Bus {
  readonly log: Logger;
  readonly requestTimeoutMs: number;
  readonly heartbeatMs: number;
  private readonly mux: InboxMux;
  private readonly served: Subscription[] = [];
  private inflight = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly live = new Set<AbortController>();
  private closing = false;
  private readonly beating = new Map<Msg, { next: number; every: number }>();
  private ticker?: NodeJS.Timeout;

  private constructor(readonly nc: NatsConnection, o: BusOptions) {
    this.log = o.log ?? silentLogger();
    this.requestTimeoutMs = o.requestTimeoutMs ?? 10_000;
    this.heartbeatMs = o.heartbeatMs ?? 500;
    this.mux = new InboxMux(nc);
  }

  /** Connects; keeps reconnecting forever if the server goes away later. */
  static async connect(o: BusOptions): Promise<Bus> {
    const nc = await connect({
      servers: o.servers,
      user: o.user,
      pass: o.pass,
      name: o.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
      waitOnFirstConnect: !o.noWaitOnFirstConnect,
      timeout: 5000,
      pingInterval: 10_000,
    });
    return new Bus(nc, o);
  }

  /** Calls currently being handled by this process. */
  get inflightCount(): number {
    return this.inflight;
  }

  // ---------------------------------------------------------------- client side

  /** Calls `service`'s `method` and resolves with its reply, or rejects with its error kind. */
  call<Res = unknown>(service: string, method: string, req: unknown, opts: CallOptions = {}): Promise<Res> {
    const timeoutMs = opts.timeoutMs && opts.timeoutMs > 0 ? opts.timeoutMs : this.requestTimeoutMs;
    const label = `${service}.${method}`;
    const started = Date.now();
    return new Promise<Res>((resolve, reject) => {
      let live: NodeJS.Timeout | undefined;
      const finish = (err: unknown, value?: Res) => {
        clearTimeout(live);
        clearTimeout(deadline);
        opts.signal?.removeEventListener('abort', onAbort);
        route.close();
        this.log.debug({ call: label, ms: Date.now() - started, code: err ? codeOf(err) : 0 }, 'bus call');
        if (err) reject(err);
        else resolve(value as Res);
      };
      const armLiveness = () => {
        clearTimeout(live);
        live = setTimeout(() => finish(unavailable(`${label}: service went away during the call`)), this.heartbeatMs * 3);
      };
      const onAbort = () => finish(canceled(label, opts.signal?.reason));
      const route = this.mux.open((msg) => {
        if (isNoResponders(msg.headers)) return finish(unavailable(`${label}: no service answers`));
        if (msg.headers?.get(H_KIND) === 'hb') return armLiveness();
        const err = errorFromHeaders(msg.headers);
        if (err) return finish(err);
        try {
          finish(undefined, decodeBody<Res>(msg.data));
        } catch (e) {
          finish(e);
        }
      });
      const deadline = setTimeout(() => finish(deadlineExceeded(label)), timeoutMs);
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort);
      let body: Uint8Array;
      try {
        body = encodeBody(req);
      } catch (e) {
        return finish(invalidArgument(`${label}: request cannot be encoded`, e));
      }
      const max = this.nc.info?.max_payload ?? 1024 * 1024;
      if (body.length > max - 4096) return finish(resourceExhausted(`${label}: request of ${body.length} bytes exceeds the bus message limit; use a stream`));
      try {
        this.nc.publish(methodSubject(service, method), body, {
          reply: route.subject,
          headers: this.callHeaders(opts, timeoutMs),
        });
      } catch (e) {
        return finish(unavailable(`${label}: bus not connected`, e));
      }
      armLiveness();
    });
  }

  /** Opens a stream to `service`'s `method` with `first` as its opening message. */
  openStream<Out = unknown, In = unknown>(service: string, method: string, first: unknown, opts: StreamOptions = {}): Duplex<Out, In> {
    const window = opts.window ?? DEFAULT_WINDOW;
    let ch!: Channel<Out, In>;
    const route = this.mux.open((msg) => ch.handle(msg));
    ch = new Channel<Out, In>({
      nc: this.nc,
      route,
      credit: 0,
      window,
      heartbeatMs: this.heartbeatMs,
      localEnded: !opts.duplex,
      label: `${service}.${method}`,
    });
    const timeoutMs = opts.timeoutMs ?? 0;
    const h = this.callHeaders(opts, timeoutMs);
    h.set(H_STREAM, opts.duplex ? 'duplex' : 'out');
    h.set(H_CREDIT, String(window));
    if (timeoutMs > 0) {
      const t = setTimeout(() => ch.fail(deadlineExceeded(`${service}.${method}`)), timeoutMs);
      void ch.done.then(() => clearTimeout(t));
    }
    if (opts.signal) {
      const onAbort = () => ch.cancel();
      if (opts.signal.aborted) queueMicrotask(onAbort);
      else opts.signal.addEventListener('abort', onAbort, { once: true });
      void ch.done.then(() => opts.signal?.removeEventListener('abort', onAbort));
    }
    this.nc.publish(methodSubject(service, method), encodeBody(first), { reply: route.subject, headers: h });
    return ch;
  }

  /** Convenience: opens a server stream and collects every message. */
  async collect<In = unknown>(service: string, method: string, req: unknown, opts: StreamOptions = {}): Promise<In[]> {
    const out: In[] = [];
    for await (const v of this.openStream<never, In>(service, method, req, opts)) out.push(v);
    return out;
  }

  private callHeaders(opts: CallOptions, timeoutMs: number) {
    const h = newHeaders();
    if (opts.namespace) h.set(H_NAMESPACE, opts.namespace);
    if (opts.lease) h.set(H_LEASE, opts.lease);
    h.set(H_TIMEOUT, String(timeoutMs));
    h.set(H_HEARTBEAT, String(this.heartbeatMs));
    h.set(H_REQUEST_ID, opts.requestId ?? randomUUID());
    return h;
  }

  // ---------------------------------------------------------------- server side

  /** Serves `handlers` for `service`, in the queue group named after the service (replicas share load). */
  serve(service: string, handlers: ServiceHandlers): void {
    const prefix = methodSubject(service, '');
    const sub = this.nc.subscribe(serviceWildcard(service), {
      queue: service,
      callback: (err, msg) => {
        if (err) return;
        if (this.closing) {
          // Delivered before the unsubscribe took effect: answer rather than leave the caller waiting.
          if (msg.reply && !msg.headers?.get(H_STREAM)) {
            const h = newHeaders();
            setErrorHeaders(h, unavailable(`${service}: shutting down`));
            msg.respond(new Uint8Array(0), { headers: h });
          }
          return;
        }
        const method = msg.subject.slice(prefix.length);
        if (msg.headers?.get(H_STREAM)) void this.dispatchStream(service, method, msg, handlers.streams?.[method]);
        else void this.dispatchUnary(service, method, msg, handlers.unary?.[method]);
      },
    });
    this.served.push(sub);
  }

  private context(msg: Msg, label: string): { ctx: CallContext; ac: AbortController; dispose: () => void } {
    const h = msg.headers;
    const timeoutMs = Number(h?.get(H_TIMEOUT)) || 0;
    const ac = new AbortController();
    this.live.add(ac);
    const timer = timeoutMs > 0 ? setTimeout(() => ac.abort(deadlineExceeded(label)), timeoutMs) : undefined;
    const requestId = h?.get(H_REQUEST_ID) || randomUUID();
    const parent = this.log;
    let child: Logger | undefined;
    const ctx: CallContext = {
      namespace: h?.get(H_NAMESPACE) || undefined,
      lease: h?.get(H_LEASE) || undefined,
      requestId,
      deadline: timeoutMs > 0 ? Date.now() + timeoutMs : Infinity,
      signal: ac.signal,
      // Created on first use: most calls never log.
      get log() {
        return (child ??= parent.child({ rid: requestId, rpc: label }));
      },
    };
    return { ctx, ac, dispose: () => (clearTimeout(timer), this.live.delete(ac)) };
  }

  private async dispatchUnary(service: string, method: string, msg: Msg, handler: UnaryHandler | undefined): Promise<void> {
    const label = `${service}.${method}`;
    const started = Date.now();
    const { ctx, dispose } = this.context(msg, label);
    this.beat(msg);
    this.begin();
    let code = 0;
    try {
      if (!handler) throw unimplemented(`method ${label}`);
      const res = await handler(decodeBody(msg.data), ctx);
      this.beating.delete(msg);
      msg.respond(encodeBody(res ?? {}));
    } catch (err) {
      this.beating.delete(msg);
      code = codeOf(err);
      if (code === Code.Unknown || code === Code.Internal) ctx.log.error({ err }, 'handler failed');
      const h = newHeaders();
      setErrorHeaders(h, err);
      msg.respond(new Uint8Array(0), { headers: h });
    } finally {
      dispose();
      this.end();
      if (this.log.isLevelEnabled('debug')) ctx.log.debug({ ms: Date.now() - started, code }, 'bus serve');
    }
  }

  /**
   * Sends heartbeats for `msg` every `fl-heartbeat-ms` until it is answered. One shared ticker serves
   * every call in flight, so fast calls cost no timer of their own.
   */
  private beat(msg: Msg): void {
    const every = Number(msg.headers?.get(H_HEARTBEAT)) || this.heartbeatMs;
    this.beating.set(msg, { next: Date.now() + every, every });
    this.ticker ??= setInterval(() => {
      if (this.beating.size === 0) {
        clearInterval(this.ticker);
        this.ticker = undefined;
        return;
      }
      const now = Date.now();
      for (const [m, b] of this.beating) {
        if (now < b.next) continue;
        b.next = now + b.every;
        const h = newHeaders();
        h.set(H_KIND, 'hb');
        m.respond(new Uint8Array(0), { headers: h });
      }
    }, Math.max(10, this.heartbeatMs >> 2));
    this.ticker.unref?.();
  }

  private async dispatchStream(service: string, method: string, msg: Msg, handler: StreamHandler | undefined): Promise<void> {
    const label = `${service}.${method}`;
    const { ctx, ac, dispose } = this.context(msg, label);
    let ch!: Channel;
    const route = this.mux.open((m) => ch.handle(m));
    ch = new Channel({
      nc: this.nc,
      route,
      peer: msg.reply,
      credit: Number(msg.headers?.get(H_CREDIT)) || DEFAULT_WINDOW,
      window: DEFAULT_WINDOW,
      heartbeatMs: Number(msg.headers?.get(H_HEARTBEAT)) || this.heartbeatMs,
      remoteEnded: msg.headers?.get(H_STREAM) !== 'duplex',
      label,
    });
    const onStreamAbort = () => ac.abort(ch.error);
    ch.signal.addEventListener('abort', onStreamAbort, { once: true });
    ac.signal.addEventListener('abort', () => ch.fail(ac.signal.reason), { once: true });
    this.begin();
    try {
      if (!handler) throw unimplemented(`method ${label}`);
      ch.sendOpen();
      await handler(decodeBody(msg.data), ch, ctx);
      ch.end();
    } catch (err) {
      if (codeOf(err) === Code.Unknown) ctx.log.error({ err }, 'stream handler failed');
      if (!ch.error) {
        if (!handler) {
          const h = newHeaders();
          setErrorHeaders(h, err);
          if (msg.reply) this.nc.publish(msg.reply, new Uint8Array(0), { headers: h });
          ch.cancel();
        } else ch.fail(err);
      }
    } finally {
      dispose();
      this.end();
    }
  }

  private begin(): void {
    this.inflight++;
  }

  private end(): void {
    if (--this.inflight === 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  // ---------------------------------------------------------------- events

  /** Publishes a containerd event (`/namespaces/create`, …) for `namespace`, stamped now unless `timestamp` is given. */
  publishEvent(topic: string, namespace: string, event: EventPayload, timestamp?: Envelope['timestamp']): void {
    const now = Date.now();
    const env: Envelope = {
      timestamp: timestamp ?? { seconds: Math.floor(now / 1000), nanos: (now % 1000) * 1e6 },
      namespace,
      topic,
      event,
    };
    const h = newHeaders();
    if (namespace) h.set(H_NAMESPACE, namespace);
    this.nc.publish(eventSubject(topic), encodeBody(env), { headers: h });
  }

  /** Receives every event (or those under `subject`) until the returned function is called. */
  subscribeEvents(onEvent: (env: Envelope) => void, subject = `${EVENTS_PREFIX}.>`): () => void {
    const sub = this.nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        try {
          onEvent(decodeBody<Envelope>(msg.data));
        } catch (e) {
          this.log.warn({ err: e, subject: msg.subject }, 'dropping malformed event');
        }
      },
    });
    return () => sub.unsubscribe();
  }

  // ---------------------------------------------------------------- introspection and health

  /** Answers `flotilla.introspect` (every process, no queue group) and `flotilla.health.<service>`. */
  answerIntrospection(info: () => ProcessInfo, health: () => HealthInfo): void {
    this.served.push(
      this.nc.subscribe(INTROSPECT_SUBJECT, { callback: (err, msg) => !err && msg.respond(encodeBody(info())) }),
      this.nc.subscribe(healthSubject(health().service), {
        queue: health().service,
        callback: (err, msg) => !err && msg.respond(encodeBody(health())),
      }),
    );
  }

  /** Asks every process for its plugins; waits until replies stop for `quietMs` (at most `maxMs`). */
  async introspect(maxMs = 1000, quietMs = 150): Promise<ProcessInfo[]> {
    const out: ProcessInfo[] = [];
    await new Promise<void>((resolve) => {
      let quiet: NodeJS.Timeout;
      const stop = () => (clearTimeout(quiet), clearTimeout(max), route.close(), resolve());
      const max = setTimeout(stop, maxMs);
      const route = this.mux.open((msg) => {
        if (isNoResponders(msg.headers)) return stop();
        try {
          out.push(decodeBody<ProcessInfo>(msg.data));
        } catch {
          /* a malformed reply is ignored */
        }
        clearTimeout(quiet);
        quiet = setTimeout(stop, quietMs);
      });
      this.nc.publish(INTROSPECT_SUBJECT, new Uint8Array(0), { reply: route.subject });
    });
    return out;
  }

  /** Asks one replica of `service` for its health. */
  async health(service: string, timeoutMs = 1000): Promise<HealthInfo> {
    try {
      const msg = await this.nc.request(healthSubject(service), new Uint8Array(0), { timeout: timeoutMs });
      return decodeBody<HealthInfo>(msg.data);
    } catch (err) {
      throw new FlotillaError(Code.Unavailable, `health of ${service}: ${messageOf(err)}`, { cause: err });
    }
  }

  // ---------------------------------------------------------------- shutdown

  /**
   * Orderly shutdown: stop taking calls, wait for in-flight ones (up to `graceMs`, then abort them),
   * then drain and close the connection.
   */
  async close(graceMs = 5000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const s of this.served) s.unsubscribe();
    if (this.inflight > 0) {
      const idle = new Promise<void>((r) => this.idleWaiters.push(r));
      const timer = new Promise<void>((r) => setTimeout(r, graceMs).unref());
      await Promise.race([idle, timer]);
      for (const ac of this.live) ac.abort(unavailable('bus: shutting down'));
      await Promise.race([new Promise<void>((r) => (this.inflight === 0 ? r() : this.idleWaiters.push(r))), new Promise((r) => setTimeout(r, 500).unref())]);
    }
    this.mux.close();
    if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}
