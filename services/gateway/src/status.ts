/** Error kinds → gRPC status at the edge; handler wrappers that never leave a call unanswered. */
import * as grpc from '@grpc/grpc-js';
import { Code, codeOf, messageOf } from '@flotilla/api';
import type { Logger } from '@flotilla/log';

/** A gRPC error object for `err`, keeping its kind and message. */
export function toServiceError(err: unknown): Partial<grpc.StatusObject> {
  const code = codeOf(err);
  return { code: (code === Code.OK ? Code.Unknown : code) as number as grpc.status, details: messageOf(err) };
}

type UnaryImpl<Req, Res> = (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>;

/** Calls already answered: grpc-js emits `cancelled` even for those when their stream closes. */
const answered = new WeakSet<object>();

/** Whether `call` has been answered (so a later `cancelled` is no cancellation). */
export function isAnswered(call: object): boolean {
  return answered.has(call);
}

/** Wraps an async unary implementation: resolves → reply, rejects → its status. */
export function unary<Req, Res>(log: Logger, name: string, fn: UnaryImpl<Req, Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    fn(call.request, call).then(
      (res) => {
        answered.add(call);
        callback(null, res);
      },
      (err) => {
        answered.add(call);
        const code = codeOf(err);
        if (code === Code.Unknown || code === Code.Internal) log.error({ err, rpc: name }, 'rpc failed');
        else log.debug({ rpc: name, code, msg: messageOf(err) }, 'rpc error');
        callback(toServiceError(err) as grpc.ServiceError);
      },
    );
  };
}

/** Ends a server or duplex stream with `err`'s status. */
export function failStream(call: { emit(event: 'error', err: unknown): boolean }, err: unknown): void {
  call.emit('error', toServiceError(err));
}
