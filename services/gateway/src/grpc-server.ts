/** The gRPC server on the unix socket: every containerd service registered, socket mode 0660. */
import { chmodSync, chownSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { unavailable } from '@flotilla/api';
import {
  EVENTS_PROTO,
  EVENT_TYPES_PROTOS,
  HEALTH_PROTO,
  CONTAINERS_PROTO,
  CONTENT_PROTO,
  DIFF_PROTO,
  IMAGES_PROTO,
  INTROSPECTION_PROTO,
  LEASES_PROTO,
  NAMESPACES_PROTO,
  SNAPSHOTS_PROTO,
  TASKS_PROTO,
  VERSION_PROTO,
  loadGrpcPackage,
} from '@flotilla/protos';
import type { GatewayContext } from './gateway-context.js';
import { containersService } from './services/containers.js';
import { contentService } from './services/content.js';
import { imagesService } from './services/images.js';
import { diffService } from './services/diff.js';
import { eventsService } from './services/events.js';
import { healthService } from './services/health.js';
import { introspectionService } from './services/introspection.js';
import { leasesService } from './services/leases.js';
import { namespacesService } from './services/namespaces.js';
import { snapshotsService } from './services/snapshots.js';
import { tasksService } from './services/tasks.js';
import { versionService } from './services/version.js';

/** Proto files the gateway serves (and the event payload types it encodes). */
export const GATEWAY_PROTOS = [VERSION_PROTO, NAMESPACES_PROTO, INTROSPECTION_PROTO, EVENTS_PROTO, HEALTH_PROTO, LEASES_PROTO, CONTENT_PROTO, IMAGES_PROTO, CONTAINERS_PROTO, SNAPSHOTS_PROTO, DIFF_PROTO, TASKS_PROTO, ...EVENT_TYPES_PROTOS];

type Node = { [k: string]: Node } & { service?: grpc.ServiceDefinition };

function lookup(pkg: grpc.GrpcObject, name: string): grpc.ServiceDefinition {
  let cur = pkg as unknown as Node;
  for (const part of name.split('.')) cur = cur[part];
  if (!cur?.service) throw new Error(`service ${name} not found in protos`);
  return cur.service;
}

/** Builds the server with every service the gateway implements. */
export function buildServer(g: GatewayContext, services: string[]): grpc.Server {
  const pkg = grpc.loadPackageDefinition(loadGrpcPackage(GATEWAY_PROTOS));
  const server = new grpc.Server({
    'grpc.max_receive_message_length': g.config.maxRecv,
    'grpc.max_send_message_length': g.config.maxSend,
  });
  const add = (name: string, impl: object) => server.addService(lookup(pkg, name), impl as grpc.UntypedServiceImplementation);
  add('containerd.services.version.v1.Version', versionService(g));
  add('containerd.services.namespaces.v1.Namespaces', namespacesService(g));
  add('containerd.services.introspection.v1.Introspection', introspectionService(g));
  add('containerd.services.events.v1.Events', eventsService(g));
  add('containerd.services.leases.v1.Leases', leasesService(g));
  add('containerd.services.content.v1.Content', contentService(g));
  add('containerd.services.images.v1.Images', imagesService(g));
  add('containerd.services.containers.v1.Containers', containersService(g));
  add('containerd.services.snapshots.v1.Snapshots', snapshotsService(g));
  add('containerd.services.diff.v1.Diff', diffService(g));
  add('containerd.services.tasks.v1.Tasks', tasksService(g));
  add('grpc.health.v1.Health', healthService(g, services));
  return server;
}

/** Binds `server` on the unix socket at `address` (a stale socket file is replaced), mode 0660. */
export async function listenUnix(server: grpc.Server, address: string, uid: number, gid: number): Promise<void> {
  mkdirSync(dirname(address), { recursive: true, mode: 0o711 });
  rmSync(address, { force: true });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${address}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(unavailable(`listen on ${address}`, err)) : resolve())),
  );
  chmodSync(address, 0o660);
  if (uid !== 0 || gid !== 0) chownSync(address, uid, gid);
}
