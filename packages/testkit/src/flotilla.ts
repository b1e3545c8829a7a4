/** Starts the whole Flotilla stack with `flotilla up` in temporary directories. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pidAlive, socketAccepts, stopChild, waitFor } from './processes.js';

/** Repository root. */
export const REPO = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
/** The flotilla command. */
export const FLOTILLA_BIN = join(REPO, 'bin', 'flotilla');

/** A running stack. */
export interface FlotillaStack {
  dir: string;
  root: string;
  state: string;
  /** gRPC socket. */
  address: string;
  process: ChildProcess;
  /** Everything the supervisor and services logged. */
  log(): string;
  /** `<state>/supervisor.json`. */
  status(): { pid: number; processes: { service: string; pid: number; restarts: number; state: string }[] };
  /** Pid of one service process. */
  pidOf(service: string): number;
  /** Stops the stack (SIGTERM to the supervisor) and removes its directories. */
  stop(opts?: { keep?: boolean }): Promise<void>;
}

/** Starts `flotilla up` with fresh root/state dirs and waits until the socket answers. */
export async function startFlotilla(opts: { args?: string[]; dir?: string } = {}): Promise<FlotillaStack> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'flotilla-sys-'));
  const root = join(dir, 'root');
  const state = join(dir, 'state');
  const address = join(state, 'containerd.sock');
  let output = '';
  const child = spawn(process.execPath, [FLOTILLA_BIN, 'up', '--root', root, '--state', state, '--address', address, ...(opts.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const stack: FlotillaStack = {
    dir,
    root,
    state,
    address,
    process: child,
    log: () => output,
    status: () => JSON.parse(readFileSync(join(state, 'supervisor.json'), 'utf8')),
    pidOf: (service) => {
      const p = stack.status().processes.find((x) => x.service === service);
      if (!p) throw new Error(`no process ${service}`);
      return p.pid;
    },
    stop: async ({ keep } = {}) => {
      const pids = (() => {
        try {
          return stack.status().processes.map((p) => p.pid);
        } catch {
          return [];
        }
      })();
      await stopChild(child, 15_000);
      for (const pid of pids) if (pid && pidAlive(pid)) process.kill(pid, 'SIGKILL');
      if (!keep) rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor('flotilla ready', 30_000, async () => {
      if (child.exitCode !== null) throw new Error(`flotilla up exited ${child.exitCode}:\n${output}`);
      return output.includes('flotilla ready') && (await socketAccepts(address));
    });
  } catch (err) {
    await stack.stop();
    throw err;
  }
  return stack;
}
