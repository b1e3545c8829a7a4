/** One supervised service process: start, watch, restart with back-off, stop. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { notFound } from '@flotilla/api';
import type { Logger } from '@flotilla/log';
import { stopProcess, tiedToParent } from '@flotilla/natsd';

/** The entry point of a service: `services/<name>/dist/main.js` in this checkout. */
export function serviceEntry(name: string): string {
  const base = process.env.FLOTILLA_SERVICES_DIR ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../../services');
  const file = join(base, name, 'dist', 'main.js');
  if (!existsSync(file)) throw notFound(`service ${JSON.stringify(name)} (${file}; run the build)`);
  return file;
}

/** What `flotilla status` shows of a process. */
export interface ProcessStatus {
  service: string;
  pid: number;
  startedAt: number;
  restarts: number;
  state: 'starting' | 'running' | 'backoff' | 'stopped';
}

/** Settings of a runner. */
export interface RunnerOptions {
  name: string;
  env: NodeJS.ProcessEnv;
  log: Logger;
  backoffInitialMs: number;
  backoffMaxMs: number;
  onChange: () => void;
}

/** Keeps one service process alive until stopped. */
export class ServiceRunner {
  private child?: ChildProcess;
  private stopping = false;
  private backoff: number;
  private timer?: NodeJS.Timeout;
  readonly status: ProcessStatus;

  constructor(private readonly o: RunnerOptions) {
    this.backoff = o.backoffInitialMs;
    this.status = { service: o.name, pid: 0, startedAt: 0, restarts: -1, state: 'starting' };
  }

  /** Starts the process (and keeps restarting it when it dies). */
  start(): void {
    if (this.stopping) return;
    const entry = serviceEntry(this.o.name);
    // A supervisor killed outright takes its services along (SIGTERM: they drain and exit).
    const [cmd, args] = tiedToParent(process.execPath, [...serviceNodeArgs(), entry]);
    const child = spawn(cmd, args, { env: this.o.env, stdio: ['ignore', 'inherit', 'inherit'] });
    this.child = child;
    this.status.pid = child.pid ?? 0;
    this.status.startedAt = Date.now();
    this.status.restarts++;
    this.status.state = 'running';
    this.o.onChange();
    child.once('exit', (code, signal) => {
      this.child = undefined;
      if (this.stopping) {
        this.status.state = 'stopped';
        this.o.onChange();
        return;
      }
      const ranMs = Date.now() - this.status.startedAt;
      if (ranMs > 10_000) this.backoff = this.o.backoffInitialMs;
      this.o.log.warn({ service: this.o.name, code, signal, restartInMs: this.backoff }, 'service exited; restarting');
      this.status.state = 'backoff';
      this.o.onChange();
      this.timer = setTimeout(() => this.start(), this.backoff);
      this.backoff = Math.min(this.backoff * 2, this.o.backoffMaxMs);
    });
  }

  /** Stops it: SIGTERM, then SIGKILL after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    if (this.child) await stopProcess(this.child, timeoutMs);
    this.status.state = 'stopped';
  }
}

/**
 * Extra Node options for every service process from `$FLOTILLA_SERVICE_NODE_ARGS` (space-separated;
 * e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile, which NODE_OPTIONS does not allow).
 */
export function serviceNodeArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.FLOTILLA_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean);
}
