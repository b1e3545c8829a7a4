/** One wildcard inbox subscription per connection, routed to per-call handlers by subject. */
import { createInbox, type Msg, type NatsConnection, type Subscription } from 'nats';

/** A subject that receives messages for one call or stream until closed. */
export interface Route {
  readonly subject: string;
  close(): void;
}

/** Routes messages arriving on `<inbox>.<n>` to the handler that opened `<n>`. */
export class InboxMux {
  private readonly prefix = createInbox();
  private readonly routes = new Map<string, (msg: Msg) => void>();
  private readonly sub: Subscription;
  private next = 0;

  constructor(nc: NatsConnection) {
    this.sub = nc.subscribe(`${this.prefix}.*`, {
      callback: (err, msg) => {
        if (err) return;
        this.routes.get(msg.subject)?.(msg);
      },
    });
  }

  /** Opens a fresh subject delivering to `handler`. */
  open(handler: (msg: Msg) => void): Route {
    const subject = `${this.prefix}.${(this.next++).toString(36)}`;
    this.routes.set(subject, handler);
    return { subject, close: () => void this.routes.delete(subject) };
  }

  /** Number of open routes (calls and streams in flight from this side). */
  get size(): number {
    return this.routes.size;
  }

  /** Stops receiving. */
  close(): void {
    this.sub.unsubscribe();
    this.routes.clear();
  }
}
