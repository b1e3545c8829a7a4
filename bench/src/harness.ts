/**
 * Runs the benchmarks against Debian's containerd and Flotilla side by side.
 *
 * Fairness: both daemons run for the whole harness (started from fresh temp dirs, stopped at the
 * end, even on error). Each benchmark runs `rounds` rounds; in every round each daemon runs the
 * benchmark once, the order alternating between rounds (C,F then F,C then C,F ...) so neither side
 * always goes first on a warmer or cooler machine. The reported figure of each side is the MEDIAN
 * of its rounds (all round values are kept in the JSON).
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { REPO, startContainerd, startFlotilla, type ContainerdDaemon, type FlotillaStack } from '@flotilla/testkit';
import { selectBenchmarks } from './benchmarks/index.js';
import { DaemonClients } from './clients.js';
import { cpuDelta, sampleCpu, type CpuSample } from './cpu.js';
import { median, sleep } from './load.js';
import type { Benchmark, Better, RunOptions, Side, Target } from './types.js';

export interface HarnessOptions {
  /** Benchmark names to run (all when empty). */
  only: string[];
  quick: boolean;
  /** Rounds per benchmark (default 3, --quick 1). */
  rounds?: number;
  /** Progress lines (default: none). */
  progress?: (line: string) => void;
}

/** One row of the result table. */
export interface Row {
  /** `<benchmark>` or `<benchmark> <metric>` for multi-metric benchmarks. */
  label: string;
  benchmark: string;
  metric: string;
  unit: string;
  better: Better;
  containerd: number;
  flotilla: number;
  /** > 1 means Flotilla is better: flotilla/containerd when higher is better, containerd/flotilla when lower is. */
  ratio: number;
  rounds: Record<Side, number[]>;
}

/** CPU time per process during one measured section of one round on one daemon (see `RunOptions.measure`). */
export interface CpuSection {
  benchmark: string;
  side: Side;
  round: number;
  section: string;
  wallMs: number;
  /** CPU ms by process name (the daemon's processes, `bench client`, `bench children`). */
  cpuMs: CpuSample;
}

export interface Report {
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  rounds: number;
  aggregate: string;
  ratio: string;
  environment: { node: string; cpus: number; cpuModel: string; containerd: string; flotilla: string };
  benchmarks: { name: string; description: string }[];
  rows: Row[];
  /** Remarks of benchmarks (`RunOptions.note`), prefixed with `<benchmark> on <side>:`. */
  notes: string[];
  /** Per-process CPU time of every measured section. */
  cpu: CpuSection[];
}

/** Pause between two timed runs, so one daemon's background work does not land in the other's run. */
const SETTLE_MS = 250;

const AGGREGATE = 'median of rounds; round order alternates (containerd,flotilla), (flotilla,containerd), ...';
const RATIO = '>1 = Flotilla better: flotilla/containerd for throughput (higher is better), containerd/flotilla for latency (lower is better)';

function command(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : 'unknown';
}

/** ratio > 1 means Flotilla is better. */
export function ratioOf(better: Better, containerd: number, flotilla: number): number {
  return better === 'higher' ? flotilla / containerd : containerd / flotilla;
}

/** Starts both daemons, runs the benchmarks, stops both daemons; returns the report. */
export async function runHarness(opts: HarnessOptions): Promise<Report> {
  const benchmarks = selectBenchmarks(opts.only);
  const rounds = opts.rounds ?? (opts.quick ? 1 : 3);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`rounds must be a positive integer, got ${rounds}`);
  const progress = opts.progress ?? (() => undefined);
  const startedAt = new Date().toISOString();
  const runId = Date.now().toString(36);

  const clients: DaemonClients[] = [];
  let started: Promise<PromiseSettledResult<{ stop(): Promise<void> }>[]> | undefined;
  // One stop for everyone (the signal handler and the finally below wait for the same one).
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      progress('stopping daemons ...');
      for (const c of clients) c.close();
      // Waits for a start in progress, so a Ctrl-C during startup stops what it started.
      const daemons = started ? await started : [];
      await Promise.allSettled(daemons.map((d) => (d.status === 'fulfilled' ? d.value.stop() : undefined)));
    })());
  // Ctrl-C must not leave daemons behind: stop them, then exit.
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = sig;
    progress(`${sig}: interrupting`);
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    progress('starting containerd and flotilla ...');
    started = Promise.allSettled([startContainerd(), startFlotilla()]);
    const [c, f] = (await started) as [PromiseSettledResult<ContainerdDaemon>, PromiseSettledResult<FlotillaStack>];
    if (c.status === 'rejected') throw new Error(`cannot start containerd: ${(c.reason as Error)?.message ?? c.reason}`);
    if (f.status === 'rejected') throw new Error(`cannot start flotilla: ${(f.reason as Error)?.message ?? f.reason}`);

    const targets: Record<Side, Target> = {
      containerd: { side: 'containerd', address: c.value.address, root: join(c.value.dir, 'root'), pid: c.value.process.pid!, clients: new DaemonClients(c.value.address) },
      flotilla: { side: 'flotilla', address: f.value.address, root: f.value.root, pid: f.value.process.pid!, clients: new DaemonClients(f.value.address) },
    };
    for (const t of Object.values(targets)) {
      clients.push(t.clients);
      await t.clients.ready();
    }

    const rows: Row[] = [];
    const notes: string[] = [];
    const cpu: CpuSection[] = [];
    for (const b of benchmarks) rows.push(...(await runBenchmark(b, targets, { quick: opts.quick, rounds, runId, progress, notes, cpu })));
    return {
      startedAt,
      finishedAt: new Date().toISOString(),
      quick: opts.quick,
      rounds,
      aggregate: AGGREGATE,
      ratio: RATIO,
      environment: {
        node: process.version,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model ?? 'unknown',
        containerd: command('containerd', ['--version']),
        flotilla: command('git', ['-C', REPO, 'describe', '--always', '--dirty']),
      },
      benchmarks: benchmarks.map((b) => ({ name: b.name, description: b.description })),
      rows,
      notes,
      cpu,
    };
  } catch (err) {
    if (interrupted) throw new Error(`interrupted by ${interrupted}`);
    throw err;
  } finally {
    await stopAll();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function runBenchmark(
  b: Benchmark,
  targets: Record<Side, Target>,
  o: { quick: boolean; rounds: number; runId: string; progress: (line: string) => void; notes: string[]; cpu: CpuSection[] },
): Promise<Row[]> {
  const base = { quick: o.quick, runId: o.runId };
  const values: Record<Side, Record<string, number>[]> = { containerd: [], flotilla: [] };
  const sides: Side[] = ['containerd', 'flotilla'];
  const prepared: Side[] = [];
  try {
    for (const s of sides) {
      await b.setup?.(targets[s], base);
      prepared.push(s);
    }
    for (let round = 0; round < o.rounds; round++) {
      const order: Side[] = round % 2 === 0 ? ['containerd', 'flotilla'] : ['flotilla', 'containerd'];
      for (const s of order) {
        await sleep(SETTLE_MS);
        const t = targets[s];
        const sections: CpuSection[] = [];
        const measure: RunOptions['measure'] = async (section, fn) => {
          const before = sampleCpu(t.pid);
          const t0 = performance.now();
          try {
            return await fn();
          } finally {
            const wallMs = performance.now() - t0;
            sections.push({ benchmark: b.name, side: s, round, section, wallMs, cpuMs: cpuDelta(before, sampleCpu(t.pid)) });
          }
        };
        const note = (text: string) => {
          o.notes.push(`${b.name} on ${s}: ${text}`);
          o.progress(`note: ${b.name} on ${s}: ${text}`);
        };
        const v = await measure('run', () => b.run(t, { ...base, round, measure, note }))
          .catch((err) => {
            throw new Error(`${b.name} on ${s}: ${(err as Error)?.message ?? err}`, { cause: err });
          })
          .finally(() => {
            // The whole run is only reported when the benchmark measured no section of its own.
            const whole = sections.pop()!;
            o.cpu.push(...(sections.length > 0 ? sections : [whole]));
          });
        for (const m of b.metrics) {
          if (typeof v[m.key] !== 'number' || !Number.isFinite(v[m.key])) throw new Error(`${b.name} on ${s}: metric ${m.key} is ${v[m.key]}`);
        }
        values[s][round] = v;
        const shown = b.metrics.map((m) => `${m.key === 'value' ? '' : m.key + '='}${fmt(v[m.key])} ${m.unit}`).join(', ');
        o.progress(`${b.name} round ${round + 1}/${o.rounds} ${s}: ${shown}`);
      }
    }
  } finally {
    for (const s of prepared) await b.teardown?.(targets[s], base);
  }
  return b.metrics.map((m) => {
    const rounds = { containerd: values.containerd.map((v) => v[m.key]), flotilla: values.flotilla.map((v) => v[m.key]) };
    const containerd = median(rounds.containerd);
    const flotilla = median(rounds.flotilla);
    return {
      label: b.metrics.length === 1 ? b.name : `${b.name} ${m.key}`,
      benchmark: b.name,
      metric: m.key,
      unit: m.unit,
      better: m.better,
      containerd,
      flotilla,
      ratio: ratioOf(m.better, containerd, flotilla),
      rounds,
    };
  });
}

/** A number with about 4 significant digits. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1000 ? v.toFixed(0) : a >= 100 ? v.toFixed(1) : a >= 10 ? v.toFixed(2) : v.toFixed(3);
}
