/** Typed clients over a per-service contract. */
import type { Bus } from './bus.js';
import type { CallOptions } from './context.js';

/** A service's unary methods: request and reply type per method name. */
export type Contract = Record<string, { req: unknown; res: unknown }>;

/** Calls one service's methods with the types of its contract. */
export class ServiceClient<C extends Contract> {
  constructor(
    readonly bus: Bus,
    readonly service: string,
  ) {}

  /** Calls `method`. */
  call<M extends keyof C & string>(method: M, req: C[M]['req'], opts?: CallOptions): Promise<C[M]['res']> {
    return this.bus.call<C[M]['res']>(this.service, method, req, opts);
  }
}
