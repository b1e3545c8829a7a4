/** What every gRPC service of the gateway is built from. */
import type { Bus } from '@flotilla/bus';
import type { Logger } from '@flotilla/log';
import type protobuf from 'protobufjs';
import type { GatewayConfig } from './config.js';

/** Shared dependencies of the gateway's service adapters. */
export interface GatewayContext {
  bus: Bus;
  log: Logger;
  config: GatewayConfig;
  /** protobufjs root with every containerd message type, for Any values. */
  root: protobuf.Root;
}
