/** Command line of the bench: flags → harness → table on stdout, JSON in bench/results/. */
import { parseArgs } from 'node:util';
import { BENCHMARKS } from './benchmarks/index.js';
import { runHarness, type Report } from './harness.js';
import { RESULTS_DIR, formatCpu, formatTable, writeReport } from './report.js';

export const USAGE = `usage: node bench/dist/main.js [--only <name>[,<name>...]]... [--quick] [--rounds <n>] [--out <dir>] [--cpu]

Starts Debian's containerd and Flotilla from fresh temp dirs, runs each benchmark against both
(order alternating between rounds), prints a table and writes it as JSON to <dir>/<timestamp>.json.

  --only <name>   run only this benchmark (repeatable, or comma-separated)
  --quick         fewer iterations and 1 round (smoke test of the harness)
  --rounds <n>    rounds per benchmark (default 3, --quick 1); each side's figure is the median
  --out <dir>     where to write the JSON (default ${RESULTS_DIR})
  --cpu           also print the CPU time of each process during each benchmark (always in the JSON)

benchmarks: ${BENCHMARKS.map((b) => b.name).join(', ')}`;

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

const stdio: CliIo = { out: (t) => process.stdout.write(t + '\n'), err: (t) => process.stderr.write(t + '\n') };

/** Runs the bench CLI; resolves with the exit code and (when it ran) the report and JSON path. */
export async function main(argv: string[], io: CliIo = stdio): Promise<{ code: number; report?: Report; file?: string }> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        only: { type: 'string', multiple: true },
        quick: { type: 'boolean', default: false },
        rounds: { type: 'string' },
        out: { type: 'string' },
        cpu: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    io.err(`${(err as Error).message}\n\n${USAGE}`);
    return { code: 2 };
  }
  if (values.help) {
    io.out(USAGE);
    return { code: 0 };
  }
  const only = (values.only ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  const rounds = values.rounds === undefined ? undefined : Number(values.rounds);
  try {
    const report = await runHarness({ only, quick: values.quick, rounds, progress: (l) => io.err(`bench: ${l}`) });
    io.out(formatTable(report));
    if (values.cpu) io.out('\n' + formatCpu(report));
    const file = writeReport(report, values.out ?? RESULTS_DIR);
    io.out(`\nresults: ${file}`);
    return { code: 0, report, file };
  } catch (err) {
    io.err(`bench failed: ${(err as Error)?.stack ?? err}`);
    return { code: 1 };
  }
}
