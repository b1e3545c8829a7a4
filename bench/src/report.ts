/** The text table and the JSON file of a report. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmt, type Report } from './harness.js';

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
  ].join('\n');
}

/** Writes the report as `<dir>/<timestamp>.json`; returns the path. */
export function writeReport(r: Report, dir = RESULTS_DIR): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${r.startedAt.replace(/:/g, '-').replace(/\./g, '-')}.json`);
  writeFileSync(path, JSON.stringify(r, null, 2) + '\n');
  return path;
}
