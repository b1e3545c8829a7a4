/**
 * The receive side of one stream: messages pushed by the connection's read loop, pulled by the
 * consumer (an async iterator), ended by EOF or an error. It reports when it holds `capacity`
 * messages or more, so the connection can stop reading (Go blocks its read loop the same way).
 */
export class MessageQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiters: { resolve(v: IteratorResult<T>): void; reject(e: unknown): void }[] = [];
  private done = false;
  private failure: { error: unknown } | undefined;

  constructor(
    private readonly capacity: number,
    /** Called with true when the queue reaches capacity and with false when it drops below. */
    private readonly onFull?: (full: boolean) => void,
  ) {}

  /** Number of messages waiting. */
  get length(): number {
    return this.items.length;
  }

  /** Whether no more messages will arrive. */
  get ended(): boolean {
    return this.done || this.failure !== undefined;
  }

  /** Whether the queue holds `capacity` messages or more. */
  get full(): boolean {
    return this.items.length >= this.capacity;
  }

  /** Adds a message (ignored after the end). */
  push(item: T): void {
    if (this.ended) return;
    const w = this.waiters.shift();
    if (w) {
      w.resolve({ value: item, done: false });
      return;
    }
    this.items.push(item);
    if (this.items.length === this.capacity) this.onFull?.(true);
  }

  /** No more messages: consumers get the queued ones, then the end. */
  end(): void {
    if (this.ended) return;
    this.done = true;
    for (const w of this.waiters.splice(0)) w.resolve({ value: undefined, done: true });
  }

  /** Fails the queue: consumers get the queued messages, then `error`. */
  fail(error: unknown): void {
    if (this.ended) return;
    this.failure = { error };
    for (const w of this.waiters.splice(0)) w.reject(error);
  }

  /** The next message, or `{done: true}` at the end; rejects with the failure. */
  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) {
      const value = this.items.shift()!;
      if (this.items.length === this.capacity - 1) this.onFull?.(false);
      return Promise.resolve({ value, done: false });
    }
    if (this.failure) return Promise.reject(this.failure.error);
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return { next: () => this.next() };
  }
}
