/** Load generation (N calls in flight) and statistics. */
import { performance } from 'node:perf_hooks';

/** What a load run achieved. */
export interface LoadResult {
  ops: number;
  seconds: number;
  opsPerSecond: number;
}

/**
 * Runs `fn(i)` for i in [0, total) with `concurrency` calls in flight; the first error stops
 * issuing new calls and is rethrown once the calls in flight have settled.
 */
export async function runCount(total: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<LoadResult> {
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < total) {
      const i = next++;
      try {
        await fn(i);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  const seconds = (performance.now() - t0) / 1000;
  if (failed) throw failed.err;
  return { ops: total, seconds, opsPerSecond: total / seconds };
}

/** Runs `fn(i)` with `concurrency` calls in flight for `ms` milliseconds (calls in flight at the end are counted). */
export async function runFor(ms: number, concurrency: number, fn: (i: number) => Promise<unknown>): Promise<LoadResult> {
  let next = 0;
  let failed: { err: unknown } | undefined;
  const t0 = performance.now();
  const until = t0 + ms;
  const worker = async () => {
    while (!failed && performance.now() < until) {
      const i = next++;
      try {
        await fn(i);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  if (failed) throw failed.err;
  return { ops: next, seconds, opsPerSecond: next / seconds };
}

/** Median (mean of the two middle values for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Nearest-rank percentile (p in (0, 100]). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
