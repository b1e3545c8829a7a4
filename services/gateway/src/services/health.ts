/** grpc.health.v1.Health: SERVING while the gateway and the metadata service answer. */
import type * as grpc from '@grpc/grpc-js';
import { notFound } from '@flotilla/api';
import type { GatewayContext } from '../gateway-context.js';
import { failStream, unary } from '../status.js';

const SERVING = 1;
const NOT_SERVING = 2;

/** The Health service implementation; service names are `""` (the whole server) or a Flotilla service. */
export function healthService(g: GatewayContext, services: string[]) {
  const check = async (service: string): Promise<number> => {
    if (service !== '' && !services.includes(service)) throw notFound(`unknown service ${JSON.stringify(service)}`);
    try {
      await g.bus.health(service === '' ? 'metadata' : service, 1000);
      return SERVING;
    } catch {
      return NOT_SERVING;
    }
  };
  return {
    Check: unary(g.log, 'Health.Check', async (req: { service?: string }) => ({ status: await check(req.service ?? '') })),
    Watch: (call: grpc.ServerWritableStream<{ service?: string }, unknown>) => {
      let last = -1;
      let timer: NodeJS.Timeout | undefined;
      const poll = async () => {
        try {
          const status = await check(call.request.service ?? '');
          if (status !== last) call.write({ status });
          last = status;
          timer = setTimeout(() => void poll(), 1000);
        } catch (err) {
          failStream(call, err);
        }
      };
      call.once('cancelled', () => clearTimeout(timer));
      void poll();
    },
  };
}
