/** The gateway process: containerd's gRPC API on the unix socket, translated onto the bus. */
import { runService } from '@flotilla/host';
import { loadRoot } from '@flotilla/protos';
import { gatewayConfig } from './config.js';
import { GATEWAY_PROTOS, buildServer, listenUnix } from './grpc-server.js';

await runService({
  name: 'gateway',
  start: async ({ config, bus, log, onShutdown }) => {
    const gc = gatewayConfig(config);
    const server = buildServer({ bus, log, config: gc, root: loadRoot(GATEWAY_PROTOS) }, config.supervisor.services);
    await listenUnix(server, gc.address, gc.uid, gc.gid);
    log.info({ address: gc.address }, 'containerd API listening');
    onShutdown(() => new Promise<void>((r) => server.tryShutdown(() => r())));
    const grpcPlugin = (id: string) => ({ type: 'io.containerd.grpc.v1', id, requires: ['io.containerd.service.v1'], status: 'ok' as const });
    return [grpcPlugin('version'), grpcPlugin('introspection'), grpcPlugin('events'), grpcPlugin('healthcheck'), grpcPlugin('content'), grpcPlugin('diff'), { type: 'io.containerd.event.v1', id: 'exchange', requires: [], status: 'ok' }];
  },
});
