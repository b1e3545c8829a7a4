/** The text table and the JSON file of a report. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHILDREN, CLIENT, IOWAIT, MACHINE } from './cpu.js';
import { fmt, type CpuSection, type Report } from './harness.js';
import { median } from './load.js';
import type { Side } from './types.js';

/** Default directory of the JSON results: `bench/results/`. */
export const RESULTS_DIR = fileURLToPath(new URL('../results/', import.meta.url));

/** The table: benchmark, unit (↑ higher is better, ↓ lower is better), containerd, flotilla, ratio. */
export function formatTable(r: Report): string {
  const head = ['benchmark', 'unit', 'containerd', 'flotilla', 'ratio'];
  const body = r.rows.map((x) => [x.label, `${x.unit} ${x.better === 'higher' ? '↑' : '↓'}`, fmt(x.containerd), fmt(x.flotilla), `${x.ratio.toFixed(2)}x`]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [
    `Flotilla ${r.environment.flotilla} vs ${r.environment.containerd}`,
    `node ${r.environment.node}, ${r.environment.cpus} CPUs (${r.environment.cpuModel})${r.quick ? ', --quick' : ''}`,
    `${r.rounds} round(s); figures: ${r.aggregate}`,
    '',
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...body.map(line),
    '',
    `↑ higher is better, ↓ lower is better. ratio ${r.ratio}.`,
    ...(r.notes?.length ? ['', 'notes:', ...r.notes.map((n) => `  - ${n}`)] : []),
  ].join('\n');
}

/**
 * The CPU breakdown: for every benchmark section and daemon, the median over rounds of the wall
 * time and of each process's CPU time, as CPU seconds per wall second (1.00 = one core busy).
 */
export function formatCpu(r: Report): string {
  const groups = new Map<string, CpuSection[]>();
  for (const c of r.cpu ?? []) {
    const key = `${c.benchmark} ${c.section}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  const out = ['CPU per process during the measured sections (median over rounds; cores = CPU s per wall s, ms = CPU ms):'];
  for (const [key, list] of groups) {
    out.push('', `${key}`);
    for (const side of ['containerd', 'flotilla'] as Side[]) {
      const mine = list.filter((c) => c.side === side);
      if (mine.length === 0) continue;
      const wall = median(mine.map((c) => c.wallMs));
      const names = [...new Set(mine.flatMap((c) => Object.keys(c.cpuMs)))];
      const per = names.map((n) => ({ n, ms: median(mine.map((c) => c.cpuMs[n] ?? 0)) }));
      const daemon = per.filter((p) => p.n !== CLIENT && p.n !== CHILDREN && p.n !== MACHINE && p.n !== IOWAIT).sort((a, b) => b.ms - a.ms);
      const total = daemon.reduce((a, p) => a + p.ms, 0);
      const cell = (p: { n: string; ms: number }) => `${p.n} ${fmt(p.ms)} ms (${(p.ms / wall).toFixed(2)})`;
      out.push(`  ${side.padEnd(10)} wall ${fmt(wall)} ms; daemon total ${fmt(total)} ms (${(total / wall).toFixed(2)} cores)`);
      out.push(`    ${daemon.filter((p) => p.ms > 0).map(cell).join(', ') || '(no CPU)'}`);
      const bench = per.filter((p) => p.n === CLIENT || p.n === CHILDREN);
      // The rest of the machine, per round: busy time of all CPUs minus the processes above.
      const rest = median(mine.map((c) => (c.cpuMs[MACHINE] ?? 0) - Object.entries(c.cpuMs).reduce((a, [n, v]) => (n === MACHINE || n === IOWAIT ? a : a + v), 0)));
      const machine = names.includes(MACHINE) ? [cell({ n: 'rest of machine', ms: Math.max(0, rest) })] : [];
      const iowait = per.filter((p) => p.n === IOWAIT && p.ms > 0).map((p) => cell({ n: 'iowait', ms: p.ms }));
      out.push(`    ${[...bench.map(cell), ...machine, ...iowait].join(', ')}`);
    }
  }
  return out.join('\n');
}

/** Writes the report as `<dir>/<timestamp>.json`; returns the path. */
export function writeReport(r: Report, dir = RESULTS_DIR): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${r.startedAt.replace(/:/g, '-').replace(/\./g, '-')}.json`);
  writeFileSync(path, JSON.stringify(r, null, 2) + '\n');
  return path;
}
