/** The runtime process: the Tasks API on the bus, shims, and the ttrpc endpoint shims publish events to. */
import { mkdirSync } from 'node:fs';
import { runService } from '@flotilla/host';
import { ContainersClient, SnapshotsClient } from '@flotilla/metadata';
import { runtimeConfig } from './config.js';
import { EventsEndpoint } from './events-endpoint.js';
import { runtimePlugins } from './plugins.js';
import { runtimeRoot } from './protos.js';
import { serveRuntime } from './server.js';
import { TaskManager } from './task-manager.js';
import { LocalTasks } from './tasks-service.js';

await runService({
  name: 'runtime',
  start: async ({ config, bus, log, onShutdown }) => {
    const rc = runtimeConfig(config);
    mkdirSync(rc.stateDir, { recursive: true, mode: 0o711 });
    mkdirSync(rc.rootDir, { recursive: true, mode: 0o711 });
    const root = runtimeRoot();
    const metaOpts = () => ({ timeoutMs: 10_000 });
    const containers = new ContainersClient(bus, metaOpts);
    const snapshots = new SnapshotsClient(bus, metaOpts);

    const endpoint = new EventsEndpoint({
      address: rc.ttrpcAddress,
      uid: rc.ttrpcUid,
      gid: rc.ttrpcGid,
      root,
      publish: (topic, ns, event, ts) => bus.publishEvent(topic, ns, event, ts),
      log: log.child({ component: 'ttrpc-events' }),
    });
    endpoint.start();
    onShutdown(() => endpoint.stop());

    const manager = new TaskManager({
      config: rc,
      root,
      log: log.child({ component: 'tasks' }),
      publish: (topic, ns, event) => bus.publishEvent(topic, ns, event),
      containerRuntime: async (ns, id) => (await containers.get(ns, id)).runtime.name,
    });
    onShutdown(() => manager.close());
    // Recovery before serving (containerd loads its shims before the tasks service starts).
    await manager.load();
    log.info({ tasks: manager.size }, 'tasks loaded');

    const tasks = new LocalTasks({ manager, containers, snapshots, log: log.child({ component: 'tasks-service' }), stateTimeoutMs: rc.timeouts.state });
    // Pending Waits end at once when we are told to stop (the gateway retries them on the next
    // runtime process), so they do not hold the bus drain up.
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => tasks.stopWaits());
    serveRuntime(bus, tasks);
    return runtimePlugins({ stateDir: rc.stateDir, rootDir: rc.rootDir });
  },
});
