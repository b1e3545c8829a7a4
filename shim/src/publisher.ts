/**
 * Publishing task events to containerd: ttrpc `containerd.services.events.ttrpc.v1.Events/Forward`
 * on `$TTRPC_ADDRESS` (containerd-facts §2.4; `runtime/v2/shim/publisher.go`).
 *
 * Like Go's publisher: the connection is made on the first event and remade after it drops; each
 * Forward carries the namespace in the `containerd-namespace-ttrpc` metadata and a 5 s deadline;
 * a failed event is retried up to 5 times with a linear back-off (1 s, 2 s, …) and then dropped
 * with an error in the log; at most 2048 events wait.
 *
 * Unlike Go, events leave strictly in the order they were published: a failing event holds back
 * the ones behind it while it is retried (Go re-queues it behind them), because containerd's
 * consumers rely on the order (TaskCreate < TaskStart < TaskExit < TaskDelete; facts §2.4).
 */
import type protobuf from 'protobufjs';
import { messageOf } from '@flotilla/api';
import type { Logger } from '@flotilla/log';
import { NAMESPACE_METADATA_KEY, TtrpcClient, ttrpcClient, type TypedClient } from '@flotilla/ttrpc';
import { TOPICS, eventAny, timestamp, type EventName } from './events.js';

/** The service events are forwarded to. */
export const EVENTS_SERVICE = 'containerd.services.events.ttrpc.v1.Events';

/** Options of {@link Publisher}. */
export interface PublisherOptions {
  /** containerd's ttrpc address (`$TTRPC_ADDRESS`). Empty: every event fails and is dropped. */
  address: string;
  namespace: string;
  /** Proto root with the events service and the `containerd.events` payload types. */
  root: protobuf.Root;
  logger: Logger;
  /** Retries after the first attempt (default 5). */
  retries?: number;
  /** Back-off unit: the n-th retry waits n × this (default 1000 ms). */
  backoffMs?: number;
  /** Deadline of one Forward (default 5000 ms). */
  timeoutMs?: number;
  /** Events that may wait (default 2048); more are dropped with an error. */
  queueSize?: number;
  /** Connects to containerd (tests); default `TtrpcClient.connect`. */
  connect?: (address: string) => Promise<TtrpcClient>;
}

interface Item {
  topic: string;
  request: object;
  attempts: number;
  done: () => void;
}

/** The outcome counters, for tests and the log. */
export interface PublisherStats {
  forwarded: number;
  failures: number;
  dropped: number;
}

/** An ordered, retrying event publisher; see the file comment. */
export class Publisher {
  private readonly queue: Item[] = [];
  private pumping = false;
  private client: TtrpcClient | undefined;
  private events: TypedClient | undefined;
  private closed = false;
  private wake: (() => void) | undefined;
  private readonly idleWaiters: (() => void)[] = [];
  readonly stats: PublisherStats = { forwarded: 0, failures: 0, dropped: 0 };

  constructor(private readonly opts: PublisherOptions) {}

  /**
   * Queues `name` (e.g. `TaskExit`) with `payload`; resolves once containerd accepted it or it was
   * dropped. Never rejects.
   */
  publish(name: EventName, payload: object): Promise<void> {
    const topic = TOPICS[name];
    if (this.closed) {
      this.opts.logger.error({ topic }, 'publisher closed; event dropped');
      return Promise.resolve();
    }
    if (this.queue.length >= (this.opts.queueSize ?? 2048)) {
      this.stats.dropped++;
      this.opts.logger.error({ topic }, 'event queue full; event dropped');
      return Promise.resolve();
    }
    const request = {
      envelope: {
        timestamp: timestamp(new Date()),
        namespace: this.opts.namespace,
        topic,
        event: eventAny(this.opts.root, name, payload),
      },
    };
    return new Promise((resolve) => {
      this.queue.push({ topic, request, attempts: 0, done: resolve });
      void this.pump();
    });
  }

  /** Events waiting or in flight. */
  get pending(): number {
    return this.queue.length;
  }

  /** Resolves when every queued event was forwarded or dropped, or after `timeoutMs`. */
  flush(timeoutMs: number): Promise<void> {
    if (this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Drops the connection; later events are dropped. Waiting events are released. */
  close(): void {
    this.closed = true;
    this.wake?.();
    this.client?.close();
    this.client = undefined;
    this.events = undefined;
  }

  private async forward(item: Item): Promise<void> {
    if (!this.events || !this.client || this.client.closed) {
      this.client?.close();
      const connect = this.opts.connect ?? ((a: string) => TtrpcClient.connect(a, { timeoutMs: this.opts.timeoutMs ?? 5000 }));
      if (!this.opts.address) throw new Error('TTRPC_ADDRESS is not set');
      this.client = await connect(this.opts.address);
      this.events = ttrpcClient(this.opts.root, EVENTS_SERVICE, this.client);
    }
    await this.events.call('Forward', item.request, {
      timeoutMs: this.opts.timeoutMs ?? 5000,
      metadata: { [NAMESPACE_METADATA_KEY]: this.opts.namespace },
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0) {
        const item = this.queue[0]!;
        if (this.closed) {
          this.queue.shift();
          this.stats.dropped++;
          item.done();
          continue;
        }
        try {
          await this.forward(item);
          this.stats.forwarded++;
          this.queue.shift();
          item.done();
        } catch (err) {
          this.stats.failures++;
          item.attempts++;
          const retries = this.opts.retries ?? 5;
          if (item.attempts > retries) {
            this.opts.logger.error({ topic: item.topic, err: messageOf(err) }, 'evicting event from queue because of retry count');
            this.stats.dropped++;
            this.queue.shift();
            item.done();
            continue;
          }
          this.opts.logger.warn({ topic: item.topic, attempt: item.attempts, err: messageOf(err) }, 'forward event failed; retrying');
          // A broken connection is remade on the next attempt.
          if (this.client?.closed) this.events = undefined;
          await this.sleep((this.opts.backoffMs ?? 1000) * item.attempts);
        }
      }
    } finally {
      this.pumping = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }
}
