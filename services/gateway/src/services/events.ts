/** containerd.services.events.v1.Events: Publish, Forward and Subscribe with containerd's filters. */
import type * as grpc from '@grpc/grpc-js';
import { codeOf, invalidArgument } from '@flotilla/api';
import { eventSubject, type Envelope, type EventPayload } from '@flotilla/bus';
import { adaptEnvelope, parseFilters } from '@flotilla/filters';
import { decodeAny, encodeAny } from '@flotilla/protos';
import { requireNamespace } from '../call-options.js';
import type { GatewayContext } from '../gateway-context.js';
import { failStream, unary } from '../status.js';

interface AnyMsg {
  type_url?: string;
  value?: Buffer;
}
interface ProtoTimestamp {
  seconds?: string | number;
  nanos?: number;
}

/** Turns a client's Any into a bus payload: decoded fields when the type is known, bytes otherwise. */
function payloadOf(g: GatewayContext, any: AnyMsg | undefined): EventPayload {
  if (!any || !any.type_url) throw invalidArgument('event must be set');
  const fields = decodeAny(g.root, any);
  return { type_url: any.type_url, value: fields ?? new Uint8Array(any.value ?? Buffer.alloc(0)) };
}

/** The decoded fields of a bus payload, for filters (undefined for unknown types). */
function fieldsOf(g: GatewayContext, p: EventPayload): Record<string, unknown> | undefined {
  if (p.value instanceof Uint8Array) return decodeAny(g.root, { type_url: p.type_url, value: Buffer.from(p.value) });
  return p.value;
}

/** The protobuf Envelope of a bus envelope. */
export function envelopeMessage(g: GatewayContext, env: Envelope) {
  const p = env.event;
  const event = p.value instanceof Uint8Array ? { type_url: p.type_url, value: Buffer.from(p.value) } : encodeAny(g.root, p.type_url, p.value);
  return { timestamp: env.timestamp, namespace: env.namespace, topic: env.topic, event };
}

/** The Events service implementation. */
export function eventsService(g: GatewayContext) {
  return {
    Publish: unary(g.log, 'Events.Publish', async (req: { topic: string; event?: AnyMsg }, call) => {
      const ns = requireNamespace(call);
      eventSubject(req.topic); // validates the topic
      g.bus.publishEvent(req.topic, ns, payloadOf(g, req.event));
      return {};
    }),
    Forward: unary(g.log, 'Events.Forward', async (req: { envelope?: { timestamp?: ProtoTimestamp; namespace?: string; topic?: string; event?: AnyMsg } }) => {
      const env = req.envelope;
      if (!env) throw invalidArgument('envelope must be set');
      if (!env.namespace) throw invalidArgument('envelope namespace must be set');
      eventSubject(env.topic ?? '');
      const ts = env.timestamp ? { seconds: Number(env.timestamp.seconds ?? 0), nanos: env.timestamp.nanos ?? 0 } : undefined;
      g.bus.publishEvent(env.topic as string, env.namespace, payloadOf(g, env.event), ts);
      return {};
    }),
    Subscribe: (call: grpc.ServerWritableStream<{ filters?: string[] }, unknown>) => {
      let filter;
      try {
        filter = parseFilters(call.request.filters ?? []);
      } catch (err) {
        failStream(call, err);
        return;
      }
      const unsubscribe = g.bus.subscribeEvents((env) => {
        try {
          const match = filter.match(adaptEnvelope({ namespace: env.namespace, topic: env.topic, event: fieldsOf(g, env.event) }));
          if (match) call.write(envelopeMessage(g, env));
        } catch (err) {
          g.log.warn({ err, topic: env.topic, code: codeOf(err) }, 'cannot forward event to subscriber');
        }
      });
      const stop = () => unsubscribe();
      call.once('cancelled', stop);
      call.once('close', stop);
      call.once('error', stop);
    },
  };
}
