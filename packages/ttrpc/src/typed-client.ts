/**
 * Typed calls over a {@link TtrpcClient}: request and response messages as plain objects, encoded
 * and decoded with the service's types from a protobufjs root (snake_case fields; longs as
 * strings, enums as numbers, bytes as Buffers — `DECODE_OPTIONS`).
 */
import protobuf from 'protobufjs';
import { Code, FlotillaError } from '@flotilla/api';
import type { CallOptions, ClientStream, TtrpcClient } from './client.js';
import { decodeMessage, encodeMessage } from './codec.js';

/** A server-streaming or bidi call with decoded messages. */
export interface TypedStream<Res> extends AsyncIterable<Res> {
  /** Sends one message (client-streaming shapes only). */
  send(message: object): Promise<void>;
  /** No more messages from this side. */
  closeSend(): void;
  /** The next message; undefined at the end. */
  recv(): Promise<Res | undefined>;
  /** Stops listening locally. */
  cancel(): void;
}

/** A service's methods as calls on plain objects. */
export interface TypedClient {
  /** The fully-qualified service name. */
  readonly service: string;
  /** A unary call. */
  call<Res = Record<string, unknown>>(method: string, request?: object, opts?: CallOptions): Promise<Res>;
  /** A server-streaming call. */
  serverStream<Res = Record<string, unknown>>(method: string, request?: object, opts?: CallOptions): TypedStream<Res>;
  /** A client-streaming call: send, then `closeAndRecv()` for the response. */
  clientStream<Res = Record<string, unknown>>(
    method: string,
    opts?: CallOptions,
  ): { send(message: object): Promise<void>; closeAndRecv(): Promise<Res> };
  /** A bidi call. */
  bidiStream<Res = Record<string, unknown>>(method: string, opts?: CallOptions): TypedStream<Res>;
}

interface ResolvedMethod {
  name: string;
  request: protobuf.Type;
  response: protobuf.Type;
  requestStream: boolean;
  responseStream: boolean;
}

function typedStream<Res>(stream: ClientStream, m: ResolvedMethod): TypedStream<Res> {
  const decode = (b: Buffer) => decodeMessage<Res>(m.response, b);
  return {
    send: (message) => stream.send(encodeMessage(m.request, message)),
    closeSend: () => stream.closeSend(),
    recv: async () => {
      const b = await stream.recv();
      return b === undefined ? undefined : decode(b);
    },
    cancel: () => stream.cancel(),
    [Symbol.asyncIterator]: () => {
      const it = stream[Symbol.asyncIterator]();
      return {
        next: async () => {
          const r = await it.next();
          return r.done ? { value: undefined, done: true } : { value: decode(r.value), done: false };
        },
      };
    },
  };
}

/**
 * Typed client for `serviceName` (e.g. `containerd.task.v2.Task`) of `root` on the connection
 * `client`. Throws when the service is not in the root; calls of unknown methods or of the wrong
 * shape fail with Unimplemented / InvalidArgument without touching the wire.
 */
export function ttrpcClient(root: protobuf.Root, serviceName: string, client: TtrpcClient): TypedClient {
  const name = serviceName.replace(/^\./, '');
  const service = root.lookupService(name);

  const method = (methodName: string, shape: 'unary' | 'server' | 'client' | 'bidi'): ResolvedMethod => {
    const m = service.methods[methodName];
    if (!m) throw new FlotillaError(Code.Unimplemented, `method ${methodName} not in ${name}`);
    m.resolve();
    const r: ResolvedMethod = {
      name: methodName,
      request: m.resolvedRequestType!,
      response: m.resolvedResponseType!,
      requestStream: !!m.requestStream,
      responseStream: !!m.responseStream,
    };
    const actual = r.requestStream ? (r.responseStream ? 'bidi' : 'client') : r.responseStream ? 'server' : 'unary';
    if (actual !== shape) {
      throw new FlotillaError(Code.InvalidArgument, `${name}/${methodName} is a ${actual} method, not ${shape}`);
    }
    return r;
  };

  return {
    service: name,
    async call<Res>(methodName: string, request: object = {}, opts?: CallOptions): Promise<Res> {
      const m = method(methodName, 'unary');
      const res = await client.call(name, methodName, encodeMessage(m.request, request), opts);
      return decodeMessage<Res>(m.response, res);
    },
    serverStream<Res>(methodName: string, request: object = {}, opts?: CallOptions): TypedStream<Res> {
      const m = method(methodName, 'server');
      return typedStream<Res>(client.serverStream(name, methodName, encodeMessage(m.request, request), opts), m);
    },
    clientStream<Res>(methodName: string, opts?: CallOptions) {
      const m = method(methodName, 'client');
      const call = client.clientStream(name, methodName, opts);
      return {
        send: (message: object) => call.send(encodeMessage(m.request, message)),
        closeAndRecv: async () => decodeMessage<Res>(m.response, await call.closeAndRecv()),
      };
    },
    bidiStream<Res>(methodName: string, opts?: CallOptions): TypedStream<Res> {
      const m = method(methodName, 'bidi');
      return typedStream<Res>(client.stream(name, methodName, { streamingClient: true, streamingServer: true }, undefined, opts), m);
    },
  };
}
