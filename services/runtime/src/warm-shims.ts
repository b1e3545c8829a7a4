/**
 * Warm shims: Flotilla's own shim started ahead of need, so a task create hands its bundle to a
 * process that has already loaded (shim/src/warm.ts has the line protocol) instead of running
 * `<shim> start` and waiting for a fresh Node daemon. This takes the shim's start-up (~200 ms of
 * two Node processes) off `ctr run`'s path; the pool refills in the background.
 *
 * Only for the shim binary that is Flotilla's (same real path as this checkout's launcher). With no
 * idle shim, one is started for the task at hand (one Node start-up instead of `start`'s two); if
 * that fails the create runs `start` as containerd would. Idle shims exit on their own when their
 * stdin closes, so none outlives this runtime process. `warm_shims = 0` turns all of this off.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Logger } from '@flotilla/log';
import { Code, FlotillaError } from '@flotilla/api';
import { shimEnv, type ShimCommand, type StartResult } from './shim-binary.js';

/** Blank room on the command line for the shim's rewritten process title (see warm.ts). */
const TITLE_ROOM = ' '.repeat(320);
/** How long a warm shim may take to answer a task. */
const REPLY_TIMEOUT_MS = 10_000;
/** Shims in a row that died before becoming ready, after which the pool stops refilling. */
const MAX_EARLY_DEATHS = 3;

/** Options of {@link WarmShims}. */
export interface WarmShimsOptions {
  /** Flotilla's shim launcher (`bin/containerd-shim-flotilla-v2`); '' disables the pool. */
  launcher: string;
  /** Idle shims to keep ready (0 disables the pool). */
  size: number;
  grpcAddress: string;
  ttrpcAddress: string;
  log: Logger;
}

type Reply = { ready?: boolean; pid?: number; address?: string; grouped?: boolean; error?: string };

/** One warm shim process and its reply stream. */
class WarmShim {
  ready = false;
  private readonly replies: ((r: Reply | undefined) => void)[] = [];
  readonly exited: Promise<void>;

  constructor(
    readonly child: ChildProcess,
    log: Logger,
    onReady: (s: WarmShim) => void,
  ) {
    this.exited = new Promise((resolve) => child.once('close', () => resolve()));
    child.once('error', (err) => log.warn({ err: err.message }, 'warm shim failed to start'));
    child.stdin!.on('error', () => undefined);
    createInterface({ input: child.stdout!, crlfDelay: Infinity }).on('line', (line) => {
      let r: Reply;
      try {
        r = JSON.parse(line) as Reply;
      } catch {
        log.warn({ line }, 'warm shim wrote a line that is not JSON');
        return;
      }
      if (r.ready && !this.ready) {
        this.ready = true;
        onReady(this);
      } else {
        this.replies.shift()?.(r);
      }
    });
    createInterface({ input: child.stderr!, crlfDelay: Infinity }).on('line', (line) => log.info({ shim: child.pid, line }, 'warm shim'));
    void this.exited.then(() => {
      for (const r of this.replies.splice(0)) r(undefined);
    });
  }

  /** Sends one task and waits for the answer; undefined when the shim died or did not answer in time. */
  ask(task: object): Promise<Reply | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.kill();
        resolve(undefined);
      }, REPLY_TIMEOUT_MS);
      this.replies.push((r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.child.stdin!.write(`${JSON.stringify(task)}\n`);
    });
  }

  /** Lets the shim go on as a task's shim: our pipe ends close, its exit is still reaped here. */
  release(): void {
    this.child.stdin!.destroy();
    this.child.stdout!.destroy();
    this.child.unref();
  }

  kill(): void {
    try {
      this.child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** The pool; see the file comment. */
export class WarmShims {
  private readonly idle: WarmShim[] = [];
  /** Shims being started to refill the pool; a task finding none idle takes the first of these. */
  private readonly starting: { shim: Promise<WarmShim | undefined>; taken: boolean }[] = [];
  private earlyDeaths = 0;
  private closed = false;
  /** The launcher's real path: what `isFlotillaShim` compares with. */
  private readonly flotillaShim: string | undefined;

  constructor(private readonly o: WarmShimsOptions) {
    this.flotillaShim = o.launcher ? realPath(o.launcher) : undefined;
  }

  /** Whether `binary` is Flotilla's shim (this checkout's launcher, by real path). */
  isFlotillaShim(binary: string): boolean {
    return this.flotillaShim !== undefined && realPath(binary) === this.flotillaShim;
  }

  /** Starts filling the pool. */
  fill(): void {
    this.refill();
  }

  /**
   * Hands task `cmd` to a warm shim and returns the address it serves (the same answer as
   * `<shim> start`); `cmd.binary` must be Flotilla's shim ({@link isFlotillaShim}). With none
   * idle, one is started for this task alone: one Node start-up instead of `start`'s two.
   * Undefined when the pool is off (`warm_shims = 0`) or the shim died before answering (the
   * caller then runs `start`). A shim that reports the task's group already served stays warm.
   */
  async start(cmd: ShimCommand, options: Uint8Array | undefined): Promise<StartResult | undefined> {
    if (!this.enabled) return undefined;
    const shim = this.idle.shift() ?? (await this.next());
    this.refill();
    if (!shim) return undefined;
    const r = await shim.ask({
      namespace: cmd.namespace,
      id: cmd.id,
      bundle: cmd.bundle,
      publishBinary: cmd.publishBinary,
      debug: cmd.debug ?? false,
      options: options ? Buffer.from(options).toString('base64') : '',
    });
    if (!r) return undefined; // it died under us: nothing was claimed for the task, start cold
    if (r.error !== undefined || !r.address) {
      this.putBack(shim);
      throw new FlotillaError(Code.Unknown, `start failed: containerd-shim-flotilla-v2: ${r.error ?? 'no address'}`);
    }
    if (r.grouped) this.putBack(shim);
    else shim.release();
    return { address: r.address, version: 2, protocol: 'ttrpc' };
  }

  /** Idle shims ready now. */
  get size(): number {
    return this.idle.length;
  }

  /** Stops the idle shims and refilling. */
  close(): void {
    this.closed = true;
    for (const s of this.idle.splice(0)) s.kill();
  }

  private putBack(shim: WarmShim): void {
    if (this.closed || this.idle.length >= this.o.size) shim.kill();
    else this.idle.push(shim);
  }

  private get enabled(): boolean {
    return this.o.size > 0 && this.flotillaShim !== undefined;
  }

  private get canSpawn(): boolean {
    return !this.closed && this.earlyDeaths < MAX_EARLY_DEATHS;
  }

  private refill(): void {
    if (!this.enabled) return;
    while (this.canSpawn && this.idle.length + this.starting.filter((s) => !s.taken).length < this.o.size) this.startOne();
  }

  /** Starts one shim for the pool; it goes idle when ready unless a task took it meanwhile. */
  private startOne(taken = false): { shim: Promise<WarmShim | undefined>; taken: boolean } {
    const entry = { shim: this.spawn(), taken };
    this.starting.push(entry);
    void entry.shim.then((s) => {
      this.starting.splice(this.starting.indexOf(entry), 1);
      if (s && !entry.taken) this.putBack(s);
    });
    return entry;
  }

  /**
   * With none idle: the shim already starting for the pool (it is the nearest to ready), else
   * one started for this task; undefined if it could not start.
   */
  private next(): Promise<WarmShim | undefined> {
    const pending = this.starting.find((s) => !s.taken);
    if (pending) {
      pending.taken = true;
      return pending.shim;
    }
    return this.canSpawn ? this.startOne(true).shim : Promise.resolve(undefined);
  }

  /** Starts one warm shim; resolves with it once ready, or undefined when it died first. */
  private spawn(): Promise<WarmShim | undefined> {
    const env = shimEnv({ namespace: '', grpcAddress: this.o.grpcAddress, ttrpcAddress: this.o.ttrpcAddress });
    const child = spawn(this.o.launcher, ['-address', this.o.grpcAddress, 'warm', TITLE_ROOM], {
      cwd: '/',
      env,
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    return new Promise((resolve) => {
      let ready = false;
      const shim = new WarmShim(child, this.o.log, () => {
        ready = true;
        this.earlyDeaths = 0;
        resolve(shim);
      });
      void shim.exited.then(() => {
        const i = this.idle.indexOf(shim);
        if (i >= 0) {
          // An idle shim that died (killed by hand, OOM) is replaced; one handed a task is not ours.
          this.idle.splice(i, 1);
          this.refill();
        }
        if (ready) return;
        resolve(undefined);
        if (++this.earlyDeaths === MAX_EARLY_DEATHS) this.o.log.error({ launcher: this.o.launcher }, 'warm shims keep dying before they are ready; tasks start their shims cold');
      });
    });
  }
}

function realPath(p: string): string | undefined {
  try {
    return realpathSync(p);
  } catch {
    return undefined;
  }
}
