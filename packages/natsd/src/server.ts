/** Starts and stops one nats-server process bound to loopback. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { unavailable } from '@flotilla/api';
import { generateCredentials, type BusCredentials } from './credentials.js';
import { tiedToParent } from './parent-death.js';
import { stopProcess } from './stop-process.js';

/** Options of an embedded nats-server. */
export interface NatsServerOptions {
  /** Folder for its config file (0700). */
  dir: string;
  binary?: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Credentials to require; generated when absent. */
  credentials?: BusCredentials;
  /** Where its log goes; default ignored. */
  stdio?: 'ignore' | 'inherit';
}

/** A running nats-server. */
export interface NatsServer {
  readonly process: ChildProcess;
  readonly credentials: BusCredentials;
  readonly port: number;
  /** Stops it (SIGTERM, then SIGKILL after `ms`). */
  stop(ms?: number): Promise<void>;
}

/** Finds a free TCP port on `host`. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(host: string, port: number, child: ChildProcess, ms: number, spawnError: () => Error | undefined): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const se = spawnError();
    if (se) throw unavailable(`cannot run nats-server: ${se.message}`, se);
    if (child.exitCode !== null || child.signalCode !== null) throw unavailable(`nats-server exited (${child.exitCode ?? child.signalCode}) before listening`);
    const ok = await new Promise<boolean>((r) => {
      const c = tcpConnect(port, host);
      c.once('connect', () => (c.destroy(), r(true)));
      c.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > until) throw unavailable(`nats-server did not listen on ${host}:${port} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Starts nats-server on loopback with user/password auth and waits until it accepts connections. */
export async function startNatsServer(o: NatsServerOptions): Promise<NatsServer> {
  const host = o.host ?? '127.0.0.1';
  const port = o.port || (await freePort(host));
  const url = `nats://${host}:${port}`;
  const credentials = o.credentials ? { ...o.credentials, url } : generateCredentials(url);
  mkdirSync(o.dir, { recursive: true, mode: 0o700 });
  const conf = join(o.dir, 'nats-server.conf');
  // JSON is valid nats-server config syntax; values are quoted safely.
  const config = {
    host,
    port,
    max_payload: 1048576,
    authorization: { user: credentials.user, password: credentials.pass },
  };
  writeFileSync(conf, JSON.stringify(config, null, 2), { mode: 0o600 });
  const [cmd, args] = tiedToParent(o.binary ?? '/usr/sbin/nats-server', ['-c', conf]);
  const child = spawn(cmd, args, { stdio: o.stdio ?? 'ignore', detached: false });
  let spawnError: Error | undefined;
  child.once('error', (err) => (spawnError = err));
  await waitForPort(host, port, child, 5000, () => spawnError);
  return {
    process: child,
    credentials,
    port,
    stop: (ms = 3000) => stopProcess(child, ms),
  };
}
