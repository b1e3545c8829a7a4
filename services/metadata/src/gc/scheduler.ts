/**
 * When GC runs: soon after deletions and after `mutation_threshold` mutations (containerd's
 * scheduler: at most `pause_threshold` of wall time spent paused), on request (`sync`), and —
 * unlike containerd — when a lease expires, so an expired lease's objects go without any other
 * activity.
 */
import { Code, codeOf } from '@flotilla/api';
import type { Logger } from '@flotilla/log';
import type { GcResult } from './collector.js';
import { leaseExpiry } from './labels.js';

/** Scheduler settings (from `plugins."io.containerd.gc.v1.scheduler"`). */
export interface GcSchedule {
  pauseThreshold: number;
  /** Deletions before a run is scheduled (0: every deletion schedules one). */
  deletionThreshold: number;
  /** Mutations before a run is scheduled (0: mutations never schedule one). */
  mutationThreshold: number;
  scheduleDelayMs: number;
  startupDelayMs: number;
  /** Longest time between two checks for expired leases. */
  expireCheckMs: number;
}

/** Runs collections one at a time and decides when. */
export class GcScheduler {
  private running?: Promise<GcResult>;
  private timer?: NodeJS.Timeout;
  private expiryTimer?: NodeJS.Timeout;
  private deletions = 0;
  private mutations = 0;
  private lastPauseMs = 0;
  private lastEnd = 0;
  private stopped = false;
  private nextExpiry?: number;

  constructor(
    private readonly s: GcSchedule,
    private readonly run: () => Promise<GcResult>,
    private readonly log: Logger,
  ) {}

  /** Starts the timers: a first run after the startup delay. */
  start(): void {
    this.schedule(this.s.startupDelayMs);
  }

  /** Counts a mutation; schedules a run once the threshold is passed. */
  mutated(): void {
    if (this.s.mutationThreshold > 0 && ++this.mutations > this.s.mutationThreshold) this.schedule(this.s.scheduleDelayMs);
  }

  /** Counts a deletion; schedules a run once the threshold is reached. */
  deleted(): void {
    if (++this.deletions > this.s.deletionThreshold) this.schedule(this.s.scheduleDelayMs);
  }

  /** A lease with these labels was created: make sure a run happens soon after it expires. */
  leaseCreated(labels: Record<string, string>): void {
    const t = leaseExpiry(labels);
    if (t !== undefined && (this.nextExpiry === undefined || t < this.nextExpiry)) this.armExpiry(t);
  }

  /** Runs a collection now (after any running one) and resolves when it is done. */
  async collectNow(): Promise<GcResult> {
    if (this.running) await this.running.catch(() => undefined);
    return this.runOnce();
  }

  /** Stops scheduling; waits for a running collection. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.expiryTimer);
    await this.running?.catch(() => undefined);
  }

  private schedule(delayMs: number): void {
    if (this.stopped || this.timer) return;
    // Keep the share of time spent paused under the threshold.
    const spacing = this.s.pauseThreshold > 0 ? this.lastPauseMs / this.s.pauseThreshold : 0;
    const wait = Math.max(delayMs, this.lastEnd + spacing - Date.now(), 0);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.runOnce().catch(() => undefined);
    }, wait);
    this.timer.unref?.();
  }

  private runOnce(): Promise<GcResult> {
    const p = (async () => {
      if (this.running) await this.running.catch(() => undefined);
      this.deletions = 0;
      this.mutations = 0;
      const r = await this.run();
      this.lastPauseMs = r.pauseMs;
      this.lastEnd = Date.now();
      this.armExpiry(r.nextExpiry);
      if (r.content.length || r.snapshots.length || r.leases.length) {
        this.log.info({ content: r.content.length, snapshots: r.snapshots.length, leases: r.leases.length, pauseMs: r.pauseMs }, 'garbage collected');
      }
      return r;
    })();
    this.running = p;
    p.catch((err) => {
      if (codeOf(err) !== Code.Unavailable) this.log.error({ err }, 'garbage collection failed');
    }).finally(() => {
      if (this.running === p) this.running = undefined;
    });
    return p;
  }

  private armExpiry(next: number | undefined): void {
    this.nextExpiry = next;
    clearTimeout(this.expiryTimer);
    if (this.stopped) return;
    // Only a lease that will expire needs a timer; the check interval bounds clock jumps.
    if (next === undefined) return;
    const wait = Math.min(Math.max(0, next - Date.now()) + 50, this.s.expireCheckMs);
    this.expiryTimer = setTimeout(() => void this.runOnce().catch(() => undefined), wait);
    this.expiryTimer.unref?.();
  }
}
