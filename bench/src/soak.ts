/**
 * The soak: many sequential `ctr run --rm IMAGE <id> true` against one `flotilla up`, then a check
 * that nothing leaked. Not part of CI (`npm run soak`; `npm run soak -- --runs 50` for a quick one).
 *
 * 1. Starts the stack (testkit's startFlotilla: fresh temp dirs) and imports the busybox test
 *    image into a namespace of its own (`soak-<id>`).
 * 2. Warm-up runs (default: 10% of --runs, 10..100), then the baseline: open descriptors
 *    (/proc/<pid>/fd) and memory (VmRSS; Pss too) of each process of the stack (supervisor,
 *    nats-server, every service; not the shims, which come and go), the stack's mounts, its warm
 *    shims, its snapshots.
 * 3. --runs sequential runs, each with a new id; memory and descriptors sampled every
 *    --sample-every runs (default 100, or runs/10 when that is smaller), latencies kept.
 * 4. After the last run (and up to 10 s for shims to exit), asserts:
 *    - processes: no task shim of this stack (`-address <socket>` on its command line), no more
 *      warm shims than at the baseline, no runc process of this stack, no process in a container
 *      cgroup `/<ns>/…`, no container cgroup left;
 *    - mounts: no more mounts under the stack's directories than at the baseline;
 *    - descriptors: no process of the stack holds more than --fd-slack (default 5) more than at
 *      the baseline; no service restarted;
 *    - bundles: none left under `<state>|<root>/io.containerd.runtime.v2.task/<ns>`, no runc state
 *      under `<state>/runc/<ns>`, no shim socket of any run's id in /run/containerd/s;
 *    - API: no task or container left in the namespace, no more snapshots than at the baseline;
 *    - memory: per process, the VmRSS series from the baseline to the end (printed). The first half
 *      of the runs is the memory warm-up. For the services (Node, run with --trace-gc) the verdict
 *      is on the live heap each full collection leaves: the median of the last quarter against the
 *      median of the third, "flat" when it grew less than --memory-threshold percent (default 10)
 *      or less than 2 MiB — RSS alone misleads, as V8 grows its heap's capacity for hundreds of
 *      runs before it collects. For the others (supervisor, nats-server), or a service without full
 *      collections in both quarters, the verdict compares the lowest RSS sample of the last quarter
 *      with the lowest of the third (4 MiB floor). Below 500 runs the verdict is advisory
 *      ("growing?", not a failure).
 * 5. Prints the series and the verdicts, stops the stack, exits 1 if anything leaked or grew, or a
 *    run failed.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ctr, startFlotilla, type FlotillaStack } from '@flotilla/testkit';
import {
  TASK_DIR,
  allPids,
  argvOf,
  cgroupsLeft,
  fdCount,
  inNamespaceCgroup,
  memoryOf,
  prepareNamespace,
  removeNamespace,
  runRm,
  shimsByCommandLine,
  waitShimsGone,
  type Memory,
} from './benchmarks/tasks-util.js';
import { descendants } from './cpu.js';
import { percentile } from './load.js';

export const SOAK_USAGE = `usage: node bench/dist/soak.js [--runs N] [--warmup N] [--sample-every N] [--memory-threshold PCT] [--fd-slack N] [-c FILE]

Runs N sequential \`ctr run --rm busybox <id> true\` against a fresh \`flotilla up\` and checks that no
process, mount, descriptor, bundle or memory leaked; exits 1 if something did.

  --runs N              runs after the warm-up (default 1000)
  --warmup N            runs before the baseline (default 10% of --runs, at least 10, at most 100)
  --sample-every N      sample memory and descriptors every N runs (default min(100, runs/10))
  --memory-threshold P  growth of a process's VmRSS floor (lowest sample) from the third to the last quarter
                        of the runs, in percent, above which (and above 4 MiB) it counts as growing (default 10;
                        advisory only below 500 runs)
  --fd-slack N          descriptors a process may hold beyond its baseline at the end (default 5)
  -c, --config FILE     config file for flotilla up (e.g. to run Debian's containerd-shim-runc-v2)`;

/** Growth below this many MiB is never "growing", whatever the percentage (GC and JIT noise). */
const MEMORY_FLOOR_MIB = 4;
/** Growth of the live heap below this (MB) never counts as growing, whatever the percentage. */
const HEAP_FLOOR_MIB = 2;
/**
 * Fewer runs than this give an advisory memory verdict only (printed, not failing the soak): in
 * 300-run soaks the metadata heap still grew until run ~150 and the gateway's first major GC came
 * at ~200 runs, so a short soak cannot tell a leak from a heap still reaching its working size.
 */
const MIN_RUNS_FOR_MEMORY_VERDICT = 500;
/** Consecutive failed runs after which the soak stops early. */
const MAX_CONSECUTIVE_FAILURES = 5;

interface Options {
  runs: number;
  warmup: number;
  sampleEvery: number;
  memoryThreshold: number;
  fdSlack: number;
  config?: string;
}

function parse(argv: string[]): Options | { help: true } {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string' },
      warmup: { type: 'string' },
      'sample-every': { type: 'string' },
      'memory-threshold': { type: 'string' },
      'fd-slack': { type: 'string' },
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return { help: true };
  const int = (name: string, v: string | undefined, dflt: number, min: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
  const runs = int('runs', values.runs, 1000, 1);
  return {
    runs,
    warmup: int('warmup', values.warmup, Math.min(100, Math.max(10, Math.round(runs / 10))), 0),
    sampleEvery: int('sample-every', values['sample-every'], Math.max(1, Math.min(100, Math.floor(runs / 10))), 1),
    memoryThreshold: int('memory-threshold', values['memory-threshold'], 10, 0),
    fdSlack: int('fd-slack', values['fd-slack'], 5, 0),
    config: values.config,
  };
}

/** A long-lived process of the stack. */
interface Tracked {
  name: string;
  pid: number;
  restarts: number;
}

/** The supervisor, its nats-server, and every service it runs (from `<state>/supervisor.json`). */
function trackedProcesses(stack: FlotillaStack): Tracked[] {
  const s = stack.status();
  const nats = descendants(s.pid).filter((pid) => /(^|\/)nats-server$/.test(argvOf(pid)?.[0] ?? ''));
  return [
    { name: 'supervisor', pid: s.pid, restarts: 0 },
    ...nats.map((pid, i) => ({ name: i === 0 ? 'nats-server' : `nats-server-${i}`, pid, restarts: 0 })),
    ...s.processes.map((p) => ({ name: p.service, pid: p.pid, restarts: p.restarts })),
  ];
}

/** One sample: after `run` runs, memory (KiB) and descriptors by process name. */
interface Sample {
  run: number;
  memory: Record<string, Memory | undefined>;
  fds: Record<string, number>;
}

function sample(run: number, tracked: readonly Tracked[]): Sample {
  const memory: Sample['memory'] = {};
  const fds: Sample['fds'] = {};
  for (const p of tracked) {
    memory[p.name] = memoryOf(p.pid);
    fds[p.name] = fdCount(p.pid);
  }
  return { run, memory, fds };
}

/** Mount points under `dir` (from /proc/self/mountinfo, field 5). */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && (m === dir || m.startsWith(`${dir}/`)));
}

/** runc processes of this stack (its state or root directory on their command line). */
function runcProcesses(stack: FlotillaStack): number[] {
  return allPids().filter((pid) => {
    const argv = argvOf(pid);
    return !!argv && /(^|\/)runc$/.test(argv[0] ?? '') && argv.some((a) => a.startsWith(stack.dir));
  });
}

/** Processes in a container cgroup of `ns`. */
function containerProcesses(ns: string): number[] {
  return allPids().filter((pid) => inNamespaceCgroup(pid, ns));
}

/** Entries of a directory ([] when it does not exist). */
function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The socket a runc-style shim of task `id` listens on (shim/src/address.ts, containerd's SocketAddress). */
function shimSocket(address: string, ns: string, id: string): string {
  return join('/run/containerd/s', createHash('sha256').update(join(address, ns, id)).digest('hex'));
}

async function lines(address: string, ns: string, args: string[]): Promise<string[]> {
  const r = await ctr(address, args, { namespace: ns });
  if (r.code !== 0) throw new Error(`ctr ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
}

/**
 * The two figures the memory verdict compares: the lowest sample of the third quarter of the runs
 * and the lowest of the fourth quarter (the sample at 3/4 in both; when no sample falls in the
 * third quarter, the last one before it). The first half is the memory warm-up: a Node process's
 * heap takes hundreds of runs to reach its working size and its first major GC. A GC'd heap's RSS
 * is a sawtooth whose floor is what stays allocated, so floors are compared, not single samples.
 * Undefined when a sample is missing (the process went away).
 */
export function floors(points: readonly { run: number; value: number | undefined }[], runs: number): { first?: number; last?: number } {
  if (points.length === 0 || points.some((p) => p.value === undefined)) return {};
  const v = points as { run: number; value: number }[];
  let q3 = v.filter((p) => p.run >= runs / 2 && p.run <= (runs * 3) / 4);
  if (q3.length === 0) q3 = v.filter((p) => p.run <= (runs * 3) / 4).slice(-1);
  let q4 = v.filter((p) => p.run >= (runs * 3) / 4);
  if (q4.length === 0) q4 = v.slice(-1);
  if (q3.length === 0) q3 = q4;
  return { first: Math.min(...q3.map((p) => p.value)), last: Math.min(...q4.map((p) => p.value)) };
}

/** One V8 full collection seen in `--trace-gc` output: the live heap (MB) it left. */
export interface FullGc {
  pid: number;
  afterMb: number;
}

const MARK_COMPACT = /^\[(\d+):0x[0-9a-f]+\]\s+\d+ ms: Mark-Compact(?: \(reduce\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \(/;

/** The Mark-Compact lines of `--trace-gc` output in `text`. */
export function fullGcs(text: string): FullGc[] {
  const out: FullGc[] = [];
  for (const line of text.split('\n')) {
    const m = MARK_COMPACT.exec(line);
    if (m) out.push({ pid: Number(m[1]), afterMb: Number(m[2]) });
  }
  return out;
}

/**
 * The heap verdict's figures: the median live heap after the full collections of the third
 * quarter of the runs and of the last quarter (the warm-up half left out). A leak raises what a
 * full collection leaves; a heap that only grows its capacity (RSS) does not. Undefined when a
 * quarter saw no full collection.
 */
export function heapMedians(points: readonly { run: number; mb: number }[], runs: number): { first?: number; last?: number } {
  const median = (xs: number[]) => {
    if (xs.length === 0) return undefined;
    const v = [...xs].sort((a, b) => a - b);
    return v[Math.floor((v.length - 1) / 2)];
  };
  return {
    first: median(points.filter((p) => p.run > runs / 2 && p.run <= (runs * 3) / 4).map((p) => p.mb)),
    last: median(points.filter((p) => p.run > (runs * 3) / 4).map((p) => p.mb)),
  };
}

const mib = (kib: number | undefined) => (kib === undefined ? '-' : (kib / 1024).toFixed(1));
const pad = (s: string, n: number) => s.padStart(n);

/** Runs the soak; resolves with the exit code. */
export async function soak(argv: string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  let opts: Options | { help: true };
  try {
    opts = parse(argv);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${SOAK_USAGE}\n`);
    return 2;
  }
  if ('help' in opts) {
    out(SOAK_USAGE);
    return 0;
  }
  const o = opts;
  const ns = `soak-${Date.now().toString(36)}`;
  const log = (l: string) => process.stderr.write(`soak: ${l}\n`);
  log(`starting flotilla up; ${o.warmup} warm-up run(s), then ${o.runs} run(s) in namespace ${ns}`);
  // Every service reports its full collections (--trace-gc): the memory verdict's real signal.
  process.env.FLOTILLA_SERVICE_NODE_ARGS = [process.env.FLOTILLA_SERVICE_NODE_ARGS, '--trace-gc'].filter(Boolean).join(' ');
  const stack = await startFlotilla({ args: o.config ? ['-c', o.config] : [] });
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      const problems = await removeNamespace(stack.address, ns).catch((err: Error) => [err.message]);
      for (const p of problems) log(`cleanup: ${p}`);
      await stack.stop();
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping`);
    void stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const A = stack.address;
    await prepareNamespace(A, ns);
    const failures: string[] = [];
    let consecutive = 0;
    const ids: string[] = [];
    const latencies: number[] = [];
    const one = async (id: string): Promise<number | undefined> => {
      ids.push(id);
      try {
        const ms = await runRm(A, ns, id);
        consecutive = 0;
        return ms;
      } catch (err) {
        failures.push(`${id}: ${(err as Error).message}`);
        if (++consecutive >= MAX_CONSECUTIVE_FAILURES) throw new Error(`${consecutive} runs in a row failed; last: ${(err as Error).message}`);
        return undefined;
      }
    };

    // Warm-up, then the baseline.
    for (let i = 0; i < o.warmup; i++) await one(`w${i}`);
    if (shimsByCommandLine(A, ns).length > 0) await waitShimsGone(A, ns);
    const tracked = trackedProcesses(stack);
    const samples: Sample[] = [sample(0, tracked)];
    const base = {
      mounts: mountsUnder(stack.dir).length,
      warm: shimsByCommandLine(A, undefined, 'warm').length,
      snapshots: (await lines(A, ns, ['snapshots', 'ls'])).length,
    };
    log(`baseline after warm-up: ${tracked.map((p) => `${p.name} ${mib(samples[0].memory[p.name]?.rss)} MiB ${samples[0].fds[p.name]} fds`).join(', ')}`);

    // Full collections per service, each tagged with the sample window (run count) it ended in.
    const heap = new Map<number, { run: number; mb: number }[]>();
    let logSeen = stack.log().length;
    const collectGcs = (run: number) => {
      const text = stack.log();
      for (const g of fullGcs(text.slice(logSeen))) heap.set(g.pid, [...(heap.get(g.pid) ?? []), { run, mb: g.afterMb }]);
      logSeen = text.lastIndexOf('\n') + 1;
    };
    const t0 = Date.now();
    for (let i = 1; i <= o.runs; i++) {
      const ms = await one(`s${i}`);
      if (ms !== undefined) latencies.push(ms);
      if (i % o.sampleEvery === 0 || i === o.runs) {
        collectGcs(i);
        const s = sample(i, tracked);
        samples.push(s);
        const recent = latencies.slice(-o.sampleEvery);
        log(
          `${i}/${o.runs} runs (${((Date.now() - t0) / 1000).toFixed(0)} s, ${failures.length} failed): last ${recent.length} p50 ${percentile(recent, 50).toFixed(0)} ms, ` +
            `p90 ${percentile(recent, 90).toFixed(0)} ms; rss MiB ${tracked.map((p) => `${p.name} ${mib(s.memory[p.name]?.rss)}`).join(', ')}`,
        );
      }
    }
    const seconds = (Date.now() - t0) / 1000;

    // Let the last shim go, then look for leftovers.
    const shimsLeft = await waitShimsGone(A, ns);
    await new Promise((r) => setTimeout(r, 1000));
    const end = sample(o.runs, tracked);
    const leaks: string[] = [];
    const check = (what: string, found: readonly unknown[], detail = found.slice(0, 10).join(', ')) => {
      out(`  ${found.length === 0 ? 'ok  ' : 'LEAK'} ${what}: ${found.length}${found.length ? ` (${detail}${found.length > 10 ? ', …' : ''})` : ''}`);
      if (found.length > 0) leaks.push(what);
    };

    out('');
    out(`soak: ${o.runs} × ctr run --rm (after ${o.warmup} warm-up) in ${seconds.toFixed(0)} s against flotilla up; ${failures.length} failed`);
    out(
      `latency ms: p50 ${percentile(latencies, 50).toFixed(0)}, p90 ${percentile(latencies, 90).toFixed(0)}, p99 ${percentile(latencies, 99).toFixed(0)}, ` +
        `max ${Math.max(...latencies).toFixed(0)}; first ${o.sampleEvery} p50 ${percentile(latencies.slice(0, o.sampleEvery), 50).toFixed(0)}, ` +
        `last ${o.sampleEvery} p50 ${percentile(latencies.slice(-o.sampleEvery), 50).toFixed(0)}`,
    );
    for (const f of failures.slice(0, 10)) out(`  failed: ${f}`);

    out('');
    out('leaks:');
    check('task shims of the stack', shimsLeft);
    const warm = shimsByCommandLine(A, undefined, 'warm');
    check(`warm shims beyond the ${base.warm} at the baseline`, warm.slice(base.warm), warm.join(' '));
    check('runc processes of the stack', runcProcesses(stack));
    check(`processes in container cgroups /${ns}/…`, containerProcesses(ns));
    check(`container cgroups under /${ns}`, cgroupsLeft(ns));
    const mounts = mountsUnder(stack.dir);
    check(`mounts under ${stack.dir} beyond the ${base.mounts} at the baseline`, mounts.slice(base.mounts), mounts.join(', '));
    check('bundles (state)', entries(join(stack.state, TASK_DIR, ns)));
    check('work dirs (root)', entries(join(stack.root, TASK_DIR, ns)));
    check('runc state dirs', entries(join(stack.state, 'runc', ns)));
    check('shim sockets of the runs in /run/containerd/s', ids.map((id) => shimSocket(A, ns, id)).filter((p) => existsSync(p)));
    check('tasks (ctr task ls)', await lines(A, ns, ['tasks', 'ls', '-q']));
    check('containers (ctr c ls)', await lines(A, ns, ['containers', 'ls', '-q']));
    const snaps = await lines(A, ns, ['snapshots', 'ls']);
    check(`snapshot lines beyond the ${base.snapshots} at the baseline (ctr snapshots ls)`, snaps.slice(base.snapshots), snaps.slice(1).join('; '));
    const status = trackedProcesses(stack);
    check(
      'service restarts',
      tracked.filter((p) => {
        const now = status.find((s) => s.name === p.name);
        return !now || now.pid !== p.pid || now.restarts !== p.restarts;
      }).map((p) => p.name),
    );

    out('');
    out(`descriptors (/proc/<pid>/fd; slack ${o.fdSlack}):`);
    for (const p of tracked) {
      const before = samples[0].fds[p.name];
      const after = end.fds[p.name];
      const leaked = after < 0 || after - before > o.fdSlack;
      if (leaked) leaks.push(`fds of ${p.name}`);
      out(`  ${leaked ? 'LEAK' : 'ok  '} ${p.name.padEnd(12)} ${pad(String(before), 4)} → ${pad(String(after), 4)}   series ${samples.map((s) => s.fds[p.name]).join(' ')}`);
    }

    out('');
    out(
      `memory: VmRSS MiB at runs ${samples.map((s) => s.run).join(', ')}; first half = warm-up. Verdict for Node services: the live heap a full ` +
        `collection leaves (--trace-gc), median of the last quarter against the third, threshold ${o.memoryThreshold}% and ${HEAP_FLOOR_MIB} MiB ` +
        `(RSS only shows V8 growing its heap's capacity); for the others: the lowest RSS sample of the last quarter against the third, ` +
        `threshold ${o.memoryThreshold}% and ${MEMORY_FLOOR_MIB} MiB.`,
    );
    const advisory: string[] = [];
    const total = (s: Sample, k: keyof Memory) => tracked.reduce((a, p) => a + (s.memory[p.name]?.[k] ?? 0), 0);
    const sign = (x: number) => (x >= 0 ? '+' : '');
    for (const p of tracked) {
      const points = [...samples, end].map((s) => ({ run: s.run, value: s.memory[p.name]?.rss }));
      const base = points[0].value;
      const final = points[points.length - 1].value;
      const overall = base !== undefined && final !== undefined ? `overall RSS ${sign(final - base)}${(((final - base) / base) * 100).toFixed(1)}%` : '';
      const gcs = heap.get(p.pid) ?? [];
      const h = heapMedians(gcs, o.runs);
      let verdict = 'gone';
      let growth = '';
      if (h.first !== undefined && h.last !== undefined) {
        const pct = ((h.last - h.first) / h.first) * 100;
        const grew = pct >= o.memoryThreshold && h.last - h.first >= HEAP_FLOOR_MIB;
        verdict = grew ? (o.runs >= MIN_RUNS_FOR_MEMORY_VERDICT ? 'GROWING' : 'growing?') : 'flat';
        growth = `heap after full GC ${h.first.toFixed(1)} → ${h.last.toFixed(1)} MB (${sign(pct)}${pct.toFixed(1)}%, ${gcs.length} full GCs); ${overall}`;
      } else {
        const { first, last } = floors(points, o.runs);
        if (first !== undefined && last !== undefined && base !== undefined && final !== undefined) {
          const pct = ((last - first) / first) * 100;
          const grew = pct >= o.memoryThreshold && (last - first) / 1024 >= MEMORY_FLOOR_MIB;
          verdict = grew ? (o.runs >= MIN_RUNS_FOR_MEMORY_VERDICT ? 'GROWING' : 'growing?') : 'flat';
          growth = `RSS floor last quarter ${sign(pct)}${pct.toFixed(1)}% (${sign(last - first)}${mib(last - first)} MiB)${gcs.length ? `, ${gcs.length} full GCs (too few to judge the heap)` : ''}; ${overall}`;
        }
      }
      if (verdict === 'growing?') advisory.push(p.name);
      else if (verdict !== 'flat') leaks.push(`memory of ${p.name}`);
      out(`  ${verdict.padEnd(7)} ${p.name.padEnd(12)} ${samples.map((s) => mib(s.memory[p.name]?.rss)).map((v) => pad(v, 6)).join(' ')}   ${growth}`);
    }
    out(`  total rss   ${' '.repeat(8)}${samples.map((s) => pad(mib(total(s, 'rss')), 6)).join(' ')}`);
    out(`  total pss   ${' '.repeat(8)}${samples.map((s) => pad(mib(total(s, 'pss')), 6)).join(' ')}`);
    if (o.runs < MIN_RUNS_FOR_MEMORY_VERDICT) out(`  (fewer than ${MIN_RUNS_FOR_MEMORY_VERDICT} runs: the memory verdict is advisory, "growing?" does not fail the soak)`);

    out('');
    const failed = leaks.length > 0 || failures.length > 0;
    const memory = advisory.length > 0 ? `memory flat but for ${advisory.join(', ')} (growing? — run longer to tell)` : 'memory flat';
    out(failed ? `soak: FAILED: ${[...(failures.length ? [`${failures.length} failed run(s)`] : []), ...leaks].join('; ')}` : `soak: ok, nothing leaked, ${memory}`);
    return failed ? 1 : 0;
  } catch (err) {
    process.stderr.write(`soak failed: ${(err as Error)?.stack ?? err}\n`);
    return 1;
  } finally {
    await stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

// Entry point: `node bench/dist/soak.js [flags]`.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const code = await soak(process.argv.slice(2));
  process.exit(code);
}
