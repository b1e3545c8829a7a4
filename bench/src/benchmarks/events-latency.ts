/**
 * Event latency: one Events.Subscribe (filter topic=="/namespaces/create"), then Namespaces.Create
 * one at a time; a sample is the time from the start of the Create call to the arrival of its
 * /namespaces/create event at the subscriber (the event may arrive before the Create reply).
 */
import { performance } from 'node:perf_hooks';
import { percentile } from '../load.js';
import type { Benchmark } from '../types.js';
import { deleteAll, uniqueName } from './util.js';

const FILTER = 'topic=="/namespaces/create"';
/** How long to wait for one event before failing the benchmark. */
const EVENT_TIMEOUT_MS = 10_000;

const bench: Benchmark = {
  name: 'events.latency',
  description:
    `Events.Subscribe(${FILTER}) then 200 (--quick 30) sequential Namespaces.Create after 20 (--quick 5) warm-up ones; ` +
    'latency = Create call start → event received. Also the sequential Create round trip.',
  metrics: [
    { key: 'p50', unit: 'ms', better: 'lower' },
    { key: 'p99', unit: 'ms', better: 'lower' },
    { key: 'create-rpc-p50', unit: 'ms', better: 'lower' },
  ],
  async run(t, { quick, round, runId }) {
    const iterations = quick ? 30 : 200;
    const warmup = quick ? 5 : 20;
    const waiters = new Map<string, { resolve(at: number): void; reject(err: unknown): void }>();
    let cancelled = false;
    let failure: unknown;
    const sub = t.clients.subscribe([FILTER]);
    sub.on('data', (env) => {
      const at = performance.now();
      const name = t.clients.decode(env)?.name;
      const w = typeof name === 'string' ? waiters.get(name) : undefined;
      if (w) {
        waiters.delete(name as string);
        w.resolve(at);
      }
    });
    sub.on('error', (err) => {
      if (cancelled) return;
      failure = err;
      for (const w of waiters.values()) w.reject(err);
      waiters.clear();
    });
    /** Resolves with the arrival time of `name`'s event, or undefined after `ms`. */
    const eventOf = (name: string, ms: number) =>
      new Promise<number | undefined>((resolve, reject) => {
        if (failure) return reject(failure);
        const timer = setTimeout(() => (waiters.delete(name), resolve(undefined)), ms);
        waiters.set(name, {
          resolve: (at) => (clearTimeout(timer), resolve(at)),
          reject: (err) => (clearTimeout(timer), reject(err)),
        });
      });

    const created: string[] = [];
    try {
      // The stream has no "subscribed" acknowledgement: probe until an event comes through.
      for (let k = 0; ; k++) {
        const name = uniqueName(runId, 'ev', round, `p${k}`);
        created.push(name);
        const ev = eventOf(name, 500);
        await t.clients.createNamespace(name);
        if ((await ev) !== undefined) break;
        if (k >= 20) throw new Error(`${t.side}: no event on the subscription after ${k + 1} probes`);
      }
      const latencies: number[] = [];
      const rpcs: number[] = [];
      for (let i = 0; i < warmup + iterations; i++) {
        const name = uniqueName(runId, 'ev', round, i);
        created.push(name);
        const ev = eventOf(name, EVENT_TIMEOUT_MS);
        const t0 = performance.now();
        await t.clients.createNamespace(name);
        const t1 = performance.now();
        const at = await ev;
        if (at === undefined) throw new Error(`${t.side}: no /namespaces/create event for ${name} within ${EVENT_TIMEOUT_MS} ms`);
        if (i >= warmup) {
          latencies.push(at - t0);
          rpcs.push(t1 - t0);
        }
      }
      return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), 'create-rpc-p50': percentile(rpcs, 50) };
    } finally {
      cancelled = true;
      sub.cancel();
      await deleteAll(t, created);
    }
  },
};

export default bench;
