/**
 * Test support for the bus tests (exported from nowhere; not part of the package surface).
 *
 * - `startTestNats()` starts a loopback nats-server in a fresh temp dir, writes its credentials file
 *   the way the supervisor does, and hands out Bus connections that it closes again on `stop()`.
 * - `spawnPeer(mode)` runs this file as a child process (`node --import tsx testing-nats.ts <mode>`)
 *   that connects to the same bus through `FLOTILLA_BUS_CREDENTIALS` and serves test services, so
 *   tests can measure a receiver honestly and kill -9 a server mid-call.
 *
 * Child modes:
 * - `hang`: service `victim`: unary `Hang` prints `got Hang` and never answers; stream `Drip` sends one
 *   message, prints `got Drip` and then sends nothing more.
 * - `blob`: service `blob`: stream `Read {chunks, size}` sends `chunks` byte arrays of `size` bytes
 *   (byte 0 and the last byte of chunk i are `i & 255`) and prints `peak-rss <bytes growth>` afterwards.
 * - `echo`: service `echo`: unary `Pid` answers `{pid}`.
 *
 * Every child prints `ready` once its subscriptions reached the server, and exits when its stdin closes
 * (so it never outlives the test process).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readCredentials, startNatsServer, writeCredentials, type NatsServer } from '@flotilla/natsd';
import { Bus, type BusOptions } from './bus.js';

const HERE = fileURLToPath(import.meta.url);
const REPO_ROOT = resolve(dirname(HERE), '../../..');

/** A nats-server for one test file plus the buses opened on it. */
export interface TestNats {
  readonly server: NatsServer;
  readonly dir: string;
  /** `<dir>/bus/credentials.json`, mode 0600. */
  readonly credentialsFile: string;
  /** Connects a Bus that `stop()` closes. */
  connect(name: string, extra?: Partial<BusOptions>): Promise<Bus>;
  /** Starts a child process serving test services (see the file comment). */
  spawnPeer(mode: 'hang' | 'blob' | 'echo'): Promise<Peer>;
  /** Closes every bus, kills every child, stops the server, removes the temp dir. */
  stop(): Promise<void>;
}

/** A child process on the bus. */
export interface Peer {
  readonly child: ChildProcess;
  /** Resolves with the first stdout line starting with `prefix` printed from now on (or already buffered). */
  line(prefix: string, ms?: number): Promise<string>;
  /** Resolves when the child has exited. */
  readonly exited: Promise<void>;
}

/** Starts a loopback nats-server with generated credentials in a fresh temp dir. */
export async function startTestNats(): Promise<TestNats> {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-bus-test-'));
  const server = await startNatsServer({ dir: join(dir, 'nats') });
  const credentialsFile = join(dir, 'bus', 'credentials.json');
  writeCredentials(credentialsFile, server.credentials);
  const buses: Bus[] = [];
  const peers: Peer[] = [];
  return {
    server,
    dir,
    credentialsFile,
    async connect(name, extra = {}) {
      const c = server.credentials;
      const bus = await Bus.connect({ servers: c.url, user: c.user, pass: c.pass, name, noWaitOnFirstConnect: true, ...extra });
      buses.push(bus);
      return bus;
    },
    async spawnPeer(mode) {
      const peer = spawnPeerProcess(mode, credentialsFile);
      peers.push(peer);
      await peer.line('ready', 15_000);
      return peer;
    },
    async stop() {
      for (const p of peers) {
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
        await p.exited;
      }
      await Promise.all(buses.map((b) => b.close(1000).catch(() => undefined)));
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function spawnPeerProcess(mode: string, credentialsFile: string): Peer {
  const child = spawn(process.execPath, ['--import', 'tsx', HERE, mode], {
    cwd: REPO_ROOT,
    env: { ...process.env, FLOTILLA_BUS_CREDENTIALS: credentialsFile },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const seen: string[] = [];
  let waiters: { prefix: string; resolve: (l: string) => void }[] = [];
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  createInterface({ input: child.stdout! }).on('line', (l) => {
    const hit = waiters.filter((w) => l.startsWith(w.prefix));
    if (hit.length === 0) seen.push(l);
    waiters = waiters.filter((w) => !hit.includes(w));
    for (const w of hit) w.resolve(l);
  });
  return {
    child,
    exited,
    line(prefix, ms = 10_000) {
      const i = seen.findIndex((l) => l.startsWith(prefix));
      if (i >= 0) return Promise.resolve(seen.splice(i, 1)[0]!);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`peer did not print ${prefix} within ${ms} ms`)), ms);
        const w = { prefix, resolve: (l: string) => (clearTimeout(t), resolve(l)) };
        waiters.push(w);
        void exited.then(() => {
          if (waiters.includes(w)) {
            clearTimeout(t);
            reject(new Error(`peer exited before printing ${prefix}`));
          }
        });
      });
    },
  };
}

// ------------------------------------------------------------------ child process side

async function peerMain(mode: string): Promise<void> {
  const c = readCredentials(process.env.FLOTILLA_BUS_CREDENTIALS ?? '');
  const bus = await Bus.connect({ servers: c.url, user: c.user, pass: c.pass, name: `peer-${mode}`, noWaitOnFirstConnect: true });
  const say = (l: string) => process.stdout.write(l + '\n');
  const forever = (signal: AbortSignal) => new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
  switch (mode) {
    case 'hang':
      bus.serve('victim', {
        unary: {
          Hang: async (_req, ctx) => {
            say('got Hang');
            await forever(ctx.signal);
            return {};
          },
        },
        streams: {
          Drip: async (_req, stream, ctx) => {
            await stream.send({ n: 1 });
            say('got Drip');
            await forever(ctx.signal);
          },
        },
      });
      break;
    case 'blob':
      bus.serve('blob', {
        streams: {
          Read: async (req: { chunks: number; size: number }, stream) => {
            const base = process.memoryUsage().rss;
            let peak = base;
            const buf = new Uint8Array(req.size);
            for (let i = 0; i < req.chunks; i++) {
              buf[0] = buf[req.size - 1] = i & 255;
              await stream.send(buf);
              if ((i & 15) === 0) peak = Math.max(peak, process.memoryUsage().rss);
            }
            say(`peak-rss ${peak - base}`);
          },
        },
      });
      break;
    case 'echo':
      bus.serve('echo', { unary: { Pid: () => ({ pid: process.pid }) } });
      break;
    default:
      throw new Error(`unknown mode ${mode}`);
  }
  await bus.nc.flush();
  process.stdin.on('end', () => void bus.close(200).finally(() => process.exit(0)));
  process.stdin.resume();
  say('ready');
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  peerMain(process.argv[2] ?? '').catch((err) => {
    process.stderr.write(`peer failed: ${err?.stack ?? err}\n`);
    process.exit(1);
  });
}
