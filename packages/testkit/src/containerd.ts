/** Debian's containerd, run as the reference in differential tests and benchmarks. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { socketAccepts, stopChild, waitFor } from './processes.js';

/** A running containerd. */
export interface ContainerdDaemon {
  dir: string;
  address: string;
  process: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/** Starts containerd with temporary root/state/address (CRI disabled) and waits for its socket. */
export async function startContainerd(): Promise<ContainerdDaemon> {
  const dir = mkdtempSync(join(tmpdir(), 'containerd-ref-'));
  const address = join(dir, 'state', 'containerd.sock');
  mkdirSync(join(dir, 'state'), { recursive: true });
  const config = [
    'version = 2',
    `root = ${JSON.stringify(join(dir, 'root'))}`,
    `state = ${JSON.stringify(join(dir, 'state'))}`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]',
    '[grpc]',
    `  address = ${JSON.stringify(address)}`,
    '[ttrpc]',
    `  address = ${JSON.stringify(address + '.ttrpc')}`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${JSON.stringify(join(dir, 'opt'))}`,
    '',
  ].join('\n');
  writeFileSync(join(dir, 'config.toml'), config);
  let output = '';
  const child = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  const daemon: ContainerdDaemon = {
    dir,
    address,
    process: child,
    log: () => output,
    stop: async () => {
      await stopChild(child, 10_000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await waitFor('containerd socket', 30_000, async () => {
    if (child.exitCode !== null) throw new Error(`containerd exited ${child.exitCode}:\n${output}`);
    return socketAccepts(address);
  });
  return daemon;
}
