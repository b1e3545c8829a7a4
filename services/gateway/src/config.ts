/** The gateway's configuration section. */
import type { FlotillaConfig } from '@flotilla/config';

/** Settings the gateway uses. */
export interface GatewayConfig {
  /** Unix socket of the containerd gRPC API. */
  address: string;
  uid: number;
  gid: number;
  maxRecv: number;
  maxSend: number;
  /** containerd root, for the persistent server UUID. */
  root: string;
  /** Timeout of bus calls when the gRPC caller set no deadline. */
  defaultTimeoutMs: number;
}

/** Extracts the gateway settings from the effective configuration. */
export function gatewayConfig(cfg: FlotillaConfig): GatewayConfig {
  return {
    address: cfg.grpc.address,
    uid: cfg.grpc.uid,
    gid: cfg.grpc.gid,
    maxRecv: cfg.grpc.max_recv_message_size,
    maxSend: cfg.grpc.max_send_message_size,
    root: cfg.root,
    defaultTimeoutMs: cfg.bus.request_timeout_ms,
  };
}
