/**
 * A stand-in for the metadata service's `Content.Register`, for the content service's own tests:
 * it records every call and keeps which namespace has which blob.
 */
import { alreadyExists, kindError, type Code } from '@flotilla/api';
import type { Bus, CallContext } from '@flotilla/bus';
import { REGISTER_SERVICE, REGISTER_METHOD, type RegisterRequest } from './protocol.js';

/** One recorded Register call. */
export interface RegisterCall {
  req: RegisterRequest;
  namespace?: string;
  lease?: string;
  /** When the handler answered (epoch ms). */
  answeredAt: number;
}

/** The fake metadata service. */
export class FakeMetadata {
  readonly calls: RegisterCall[] = [];
  /** `<namespace>/<digest>` of registered blobs. */
  readonly blobs = new Set<string>();
  /** Fail the next Register calls with this kind. */
  failWith?: Code;
  /** Answer Register calls this long after receipt. */
  delayMs = 0;

  constructor(bus: Bus) {
    bus.serve(REGISTER_SERVICE, { unary: { [REGISTER_METHOD]: (req: RegisterRequest, ctx: CallContext) => this.register(req, ctx) } });
  }

  private async register(req: RegisterRequest, ctx: CallContext): Promise<Record<string, never>> {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const done = () => this.calls.push({ req, namespace: ctx.namespace, lease: ctx.lease, answeredAt: Date.now() });
    if (this.failWith !== undefined) {
      done();
      throw kindError(this.failWith, `lease ${JSON.stringify(ctx.lease ?? '')}`);
    }
    const key = `${ctx.namespace}/${req.digest}`;
    if (this.blobs.has(key) && req.exclusive) {
      done();
      throw alreadyExists(`content ${req.digest}`);
    }
    this.blobs.add(key);
    done();
    return {};
  }
}
