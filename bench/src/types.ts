/** The shapes shared by the harness and the benchmarks. */
import type { DaemonClients } from './clients.js';

/** Which implementation a target is. */
export type Side = 'containerd' | 'flotilla';

/** One daemon under test, with connected clients. */
export interface Target {
  side: Side;
  /** Path of the gRPC unix socket. */
  address: string;
  /** The daemon's root directory (content store in `<root>/io.containerd.content.v1.content`, snapshots in `<root>/io.containerd.snapshotter.v1.<name>`). */
  root: string;
  /** Pid of the daemon's top process (containerd; Flotilla's `flotilla up` supervisor): with its descendants, what `measure` samples. */
  pid: number;
  clients: DaemonClients;
}

/** Whether bigger or smaller values of a metric are better. */
export type Better = 'higher' | 'lower';

/** One reported figure of a benchmark (a row of the table). */
export interface Metric {
  /** Key in the record returned by `run` (also the row suffix when a benchmark has several metrics). */
  key: string;
  unit: string;
  better: Better;
}

/** Knobs every benchmark reads; `--quick` shrinks them. */
export interface BaseOptions {
  quick: boolean;
  /** Unique per harness run; use it in names a benchmark creates. */
  runId: string;
}

/** What a benchmark's `run` gets. */
export interface RunOptions extends BaseOptions {
  /** 0-based index of the current round (unique names per round). */
  round: number;
  /**
   * Runs `fn` as a named, measured section: wall time and the CPU time each of the target's
   * processes (and the bench client, and its reaped children such as `ctr`) spent during it go to
   * the report (`cpu` in the JSON, `--cpu` on the command line). Wrap the timed part of a round in
   * it; when a round measures no section, the whole `run` is recorded as section `run`.
   */
  measure<T>(section: string, fn: () => Promise<T>): Promise<T>;
  /** Adds a remark to the report (printed with the table, kept in the JSON), e.g. state a daemon left behind. */
  note(text: string): void;
}

/**
 * A benchmark. `run` is called once per round per target (the harness alternates the order of
 * the targets between rounds); `setup`/`teardown` run once per target around all rounds, untimed.
 * A benchmark must leave the daemon as it found it (delete what it created) so later benchmarks
 * see the same state on both sides.
 */
export interface Benchmark {
  name: string;
  description: string;
  metrics: Metric[];
  setup?(target: Target, opts: BaseOptions): Promise<void>;
  run(target: Target, opts: RunOptions): Promise<Record<string, number>>;
  teardown?(target: Target, opts: BaseOptions): Promise<void>;
}

/** A single-metric benchmark in the short form `{name, unit, run(target) → number}`. */
export interface SimpleBenchmark {
  name: string;
  description: string;
  unit: string;
  better: Better;
  setup?(target: Target, opts: BaseOptions): Promise<void>;
  run(target: Target, opts: RunOptions): Promise<number>;
  teardown?(target: Target, opts: BaseOptions): Promise<void>;
}

/** Turns the short form into a `Benchmark` with one metric named `value`. */
export function simple(b: SimpleBenchmark): Benchmark {
  return {
    name: b.name,
    description: b.description,
    metrics: [{ key: 'value', unit: b.unit, better: b.better }],
    setup: b.setup,
    teardown: b.teardown,
    run: async (t, o) => ({ value: await b.run(t, o) }),
  };
}
