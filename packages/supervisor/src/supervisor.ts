/**
 * `flotilla up`: starts nats-server (unless an external bus is configured), then every service as
 * its own process; restarts crashed ones with back-off; stops all in reverse order on SIGTERM/SIGINT.
 */
import { mkdirSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { unavailable } from '@flotilla/api';
import { Bus } from '@flotilla/bus';
import type { FlotillaConfig } from '@flotilla/config';
import type { Logger } from '@flotilla/log';
import { startNatsServer, writeCredentials, type BusCredentials, type NatsServer } from '@flotilla/natsd';
import { claimAddress } from './address.js';
import { ServiceRunner } from './service-runner.js';
import { statusFile, writeStatus } from './status-file.js';

/** A running Flotilla. */
export class Supervisor {
  private nats?: NatsServer;
  private bus?: Bus;
  private runners: ServiceRunner[] = [];
  private readonly startedAt = Date.now();
  private credFile = '';
  private stopped = false;
  /** Set once the address is ours (no live daemon serves it). */
  private claimed = false;

  constructor(
    private readonly config: FlotillaConfig,
    private readonly log: Logger,
  ) {}

  /** Starts everything and resolves when every service answers health. */
  async start(): Promise<void> {
    const c = this.config;
    for (const d of [c.root, c.state]) mkdirSync(d, { recursive: true, mode: 0o711 });
    await claimAddress(c.grpc.address);
    this.claimed = true;
    const busDir = join(c.state, 'bus');
    mkdirSync(busDir, { recursive: true, mode: 0o700 });
    let creds: BusCredentials;
    if (c.bus.url) {
      creds = { url: c.bus.url };
    } else {
      this.nats = await startNatsServer({ dir: busDir, binary: c.bus.nats_server_binary, host: c.bus.listen_host, port: c.bus.port });
      creds = this.nats.credentials;
      this.nats.process.once('exit', (code, signal) => {
        if (!this.stopped) {
          this.log.fatal({ code, signal }, 'nats-server exited; stopping');
          void this.stop().then(() => process.exit(1));
        }
      });
      this.log.info({ url: creds.url }, 'bus started');
    }
    this.credFile = join(busDir, 'credentials.json');
    writeCredentials(this.credFile, creds);
    const configFile = join(c.state, 'config.json');
    writeFileSync(configFile, JSON.stringify(c), { mode: 0o600 });
    this.bus = await Bus.connect({ servers: creds.url, user: creds.user, pass: creds.pass, name: 'flotilla-supervisor', log: this.log });
    const env = {
      ...process.env,
      FLOTILLA_BUS_CREDENTIALS: this.credFile,
      FLOTILLA_CONFIG_JSON: configFile,
      FLOTILLA_LOG_LEVEL: c.debug.level,
    };
    for (const name of c.supervisor.services) {
      const runner = new ServiceRunner({
        name,
        env,
        log: this.log,
        backoffInitialMs: c.supervisor.restart_backoff_initial_ms,
        backoffMaxMs: c.supervisor.restart_backoff_max_ms,
        onChange: () => this.saveStatus(),
      });
      this.runners.push(runner);
      runner.start();
    }
    await this.waitHealthy(30_000);
    this.log.info({ address: c.grpc.address, services: c.supervisor.services }, 'flotilla ready');
  }

  private async waitHealthy(ms: number): Promise<void> {
    const until = Date.now() + ms;
    for (const name of this.config.supervisor.services) {
      for (;;) {
        try {
          await this.bus!.health(name, 500);
          break;
        } catch (err) {
          if (Date.now() > until) throw unavailable(`service ${name} did not become healthy within ${ms} ms`, err);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
  }

  private saveStatus(): void {
    if (this.stopped) return;
    writeStatus(this.config.state, {
      pid: process.pid,
      startedAt: this.startedAt,
      address: this.config.grpc.address,
      credentials: this.credFile,
      processes: this.runners.map((r) => ({ ...r.status })),
    });
  }

  /** Stops the services in reverse order, then the bus. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const t = this.config.supervisor.stop_timeout_ms;
    for (const r of [...this.runners].reverse()) await r.stop(t);
    await this.bus?.close(500).catch(() => undefined);
    await this.nats?.stop();
    if (this.claimed) {
      // Only files of our own run; never those of a live daemon we refused to replace.
      rmSync(statusFile(this.config.state), { force: true });
      rmSync(this.config.grpc.address, { force: true });
    }
    this.log.info('flotilla stopped');
  }
}
