/**
 * The benchmark registry. To add one: write `benchmarks/<name>.ts` whose default export is a
 * `Benchmark` (or `simple({name, unit, better, run(target) → number})`) and list it here.
 * Order matters only for reading the table: every benchmark leaves the daemons as it found them.
 */
import type { Benchmark } from '../types.js';
import containersCrud from './containers-crud.js';
import contentRead from './content-read.js';
import contentWrite from './content-write.js';
import eventsLatency from './events-latency.js';
import imagesImport from './images-import.js';
import namespacesCreate from './namespaces-create.js';
import namespacesGet from './namespaces-get.js';
import namespacesList from './namespaces-list.js';
import snapshotsPrepareCommit from './snapshots-prepare-commit.js';
import tasksMemory from './tasks-memory.js';
import tasksRun from './tasks-run.js';
import tasksRunParallel from './tasks-run-parallel.js';
import tasksShim from './tasks-shim.js';

export const BENCHMARKS: readonly Benchmark[] = [
  namespacesCreate,
  namespacesList,
  namespacesGet,
  eventsLatency,
  containersCrud,
  snapshotsPrepareCommit,
  contentWrite,
  contentRead,
  imagesImport,
  tasksRun,
  tasksRunParallel,
  tasksShim,
  tasksMemory,
];

/** Looks benchmarks up by name; throws listing the known names if one is unknown. */
export function selectBenchmarks(only: readonly string[]): Benchmark[] {
  if (only.length === 0) return [...BENCHMARKS];
  return only.map((name) => {
    const b = BENCHMARKS.find((x) => x.name === name);
    if (!b) throw new Error(`unknown benchmark ${JSON.stringify(name)}; known: ${BENCHMARKS.map((x) => x.name).join(', ')}`);
    return b;
  });
}
