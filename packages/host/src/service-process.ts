/**
 * The life of one service process: connect to the bus, serve, answer introspection and health,
 * drain on SIGTERM/SIGINT. Every service's `main.ts` is a call to `runService`.
 */
import { FLOTILLA_VERSION, type PluginInfo, type ProcessInfo } from '@flotilla/api';
import { Bus } from '@flotilla/bus';
import type { FlotillaConfig } from '@flotilla/config';
import { createLogger, type Logger } from '@flotilla/log';
import { readCredentials } from '@flotilla/natsd';
import { ENV_BUS_CREDENTIALS, configFromEnvironment } from './environment.js';

/** What a service gets while it starts. */
export interface ServiceContext {
  config: FlotillaConfig;
  bus: Bus;
  log: Logger;
  /** Registers work to do on shutdown, after the bus stopped taking calls (run in reverse order). */
  onShutdown(fn: () => Promise<void> | void): void;
}

/** A service definition. */
export interface ServiceDefinition {
  /** Service name: bus subjects, queue group, logs. */
  name: string;
  /** Starts the service's work (serve handlers on `ctx.bus`); returns its plugins for introspection. */
  start(ctx: ServiceContext): Promise<PluginInfo[]> | PluginInfo[];
}

/** Runs a service process until SIGTERM/SIGINT; exits non-zero if it cannot start. */
export async function runService(def: ServiceDefinition): Promise<void> {
  const config = configFromEnvironment();
  const log = createLogger(def.name, process.env.FLOTILLA_LOG_LEVEL ?? config.debug.level);
  const startedAt = Date.now();
  const shutdown: (() => Promise<void> | void)[] = [];
  let bus: Bus;
  try {
    const credFile = process.env[ENV_BUS_CREDENTIALS];
    const creds = credFile ? readCredentials(credFile) : { url: config.bus.url || 'nats://127.0.0.1:4222' };
    bus = await Bus.connect({
      servers: creds.url,
      user: creds.user,
      pass: creds.pass,
      name: `flotilla-${def.name}-${process.pid}`,
      log,
      requestTimeoutMs: config.bus.request_timeout_ms,
      heartbeatMs: config.bus.heartbeat_ms,
    });
  } catch (err) {
    log.fatal({ err }, 'cannot connect to the bus');
    process.exit(1);
  }
  let plugins: PluginInfo[];
  try {
    plugins = withoutDisabled(await def.start({ config, bus, log, onShutdown: (fn) => void shutdown.push(fn) }), config.disabled_plugins);
  } catch (err) {
    log.fatal({ err }, 'service failed to start');
    await bus.close(100).catch(() => undefined);
    process.exit(1);
  }
  const info = (): ProcessInfo => ({ service: def.name, pid: process.pid, version: FLOTILLA_VERSION, startedAt, plugins });
  bus.answerIntrospection(info, () => ({ service: def.name, pid: process.pid, status: 'serving', inflight: bus.inflightCount }));
  log.info({ plugins: plugins.map((p) => `${p.type}.${p.id}:${p.status}`) }, 'service ready');
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    await bus.close(config.supervisor.stop_timeout_ms / 2).catch((err) => log.warn({ err }, 'bus close failed'));
    for (const fn of shutdown.reverse()) await Promise.resolve(fn()).catch((err) => log.warn({ err }, 'shutdown step failed'));
    log.flush?.();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** Drops the plugins named (as `type.id`) in `disabled_plugins`; containerd does not list them either. */
export function withoutDisabled(plugins: PluginInfo[], disabled: string[]): PluginInfo[] {
  const off = new Set(disabled);
  return plugins.filter((p) => !off.has(`${p.type}.${p.id}`));
}

/** A plugin record for a plugin this process cannot run (yet), with the reason. */
export function skippedPlugin(type: string, id: string, reason: string, requires: string[] = []): PluginInfo {
  return { type, id, requires, status: 'skip', reason };
}
