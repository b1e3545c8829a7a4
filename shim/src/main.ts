/**
 * containerd-shim-flotilla-v2: the entry point containerd execs (through `bin/`'s launcher).
 *
 * - `… start`  → start.ts (prints the socket address),
 * - `… delete` → delete.ts (cleans up after a dead shim, prints a DeleteResponse),
 * - no action  → serve.ts (the long-lived shim serving `containerd.task.v2.Task` on fd 3),
 * - `… warm`   → warm.ts (Flotilla's runtime only: a shim started before its task is known).
 *
 * Each path loads only what it needs: `start` runs on every task create and must be quick.
 * Errors print as `containerd-shim-flotilla-v2: <message>` on stderr with exit code 1 (2 for a
 * bad command line), as Go's shim does.
 */
import { writeSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FlagError, USAGE, parseFlags } from './flags.js';
import { SHIM_NAME, SHIM_VERSION } from './version.js';

function fail(message: string, code = 1): never {
  writeSync(2, `${SHIM_NAME}: ${message}`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  let flags;
  try {
    flags = parseFlags(argv);
  } catch (err) {
    if (err instanceof FlagError) {
      writeSync(2, `${err.message}\n${USAGE}`);
      process.exit(err.message === 'flag: help requested' ? 0 : 2);
    }
    throw err;
  }
  if (flags.version) {
    writeSync(1, `${process.argv[1]}:\n  Version:  ${SHIM_VERSION}\n  Revision: flotilla\n  Node version: ${process.version}\n\n`);
    return;
  }
  if (flags.action === 'warm') {
    // Flotilla's runtime starting a shim ahead of its task (warm.ts); no namespace yet.
    const { warm } = await import('./warm.js');
    try {
      await warm(flags);
    } catch (err) {
      fail((err as Error).stack ?? String(err));
    }
    return;
  }
  if (!flags.namespace) fail('shim namespace cannot be empty');
  switch (flags.action) {
    case 'start': {
      const { startShim } = await import('./start.js');
      try {
        const r = await startShim(flags, { entry: fileURLToPath(import.meta.url), nodeArgs: SERVE_NODE_ARGS });
        writeSync(1, r.address);
      } catch (err) {
        fail((err as Error).message);
      }
      // Exit without closing the listening socket: libuv would unlink the socket file.
      process.exit(0);
    }
    // falls through (unreachable)
    case 'delete': {
      const { deleteAction } = await import('./delete.js');
      try {
        const out = await deleteAction(flags);
        writeSync(1, out);
      } catch (err) {
        fail((err as Error).message);
      }
      process.exit(0);
    }
    // falls through (unreachable)
    case '': {
      const { serve } = await import('./serve.js');
      try {
        await serve(flags);
      } catch (err) {
        fail((err as Error).stack ?? String(err));
      }
      return;
    }
    default:
      fail(`unknown action ${JSON.stringify(flags.action)}`);
  }
}

/** Node options for the long-lived shim: ours (the launcher's, bin/containerd-shim-flotilla-v2). */
const SERVE_NODE_ARGS: readonly string[] = process.execArgv;

await main(process.argv.slice(2));
