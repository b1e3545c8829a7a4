/**
 * `containerd-shim-flotilla-v2 -address <grpc> warm`: a shim started before its task is known, so
 * that Flotilla's runtime can hand a new task to a process that has already paid Node's start-up
 * (module loading, protobuf types, the native helper: ~150 ms) instead of running `start` and
 * waiting for a fresh daemon. containerd never runs this action; it is Flotilla's own.
 *
 * The contract with the runtime (services/runtime/src/warm-shims.ts), one JSON object per line:
 *
 * 1. The runtime spawns the shim in its own session with stdin and stdout as pipes, cwd `/`, and
 *    the environment a shim gets from `start` (`TTRPC_ADDRESS`, `GRPC_ADDRESS`, ...).
 * 2. The shim prepares (prepareServe: subreaper, reaper, protobuf types) and writes
 *    `{"ready":true,"pid":<pid>}`.
 * 3. The runtime writes a task: `{"namespace","id","bundle","publishBinary","debug","options"}`
 *    (`options`: the runtime options Any, base64, as `start` reads on stdin; may be empty).
 * 4. The shim does what `start` does (start.ts): claims the group's socket and writes
 *    `<bundle>/address`. If another shim already serves the group it answers
 *    `{"address":…,"grouped":true}` and stays warm for the next task. Otherwise it joins the
 *    options' shim cgroup, raises its oom_score_adj, moves into the bundle, points stderr at the
 *    bundle's `log` FIFO, answers `{"address":…,"grouped":false,"pid":…}` and becomes the long-lived
 *    shim of that task (serve.ts), reading nothing more from stdin.
 *    A failure answers `{"error":"…"}` and leaves the shim warm and unchanged.
 * 5. End of stdin before a task (the runtime stopped or died) makes a warm shim exit at once, so an
 *    idle shim never outlives the runtime that started it.
 *
 * The command line carries a blank padding argument: once the shim has a task, its process title
 * is rewritten in that space to read like a shim `start` made (`… -namespace <ns> -id <id>
 * -address <grpc>`), so `ps` shows which container it serves.
 */
import { constants, closeSync, openSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Sys } from '@flotilla/sys';
import type { ShimFlags } from './flags.js';
import { prepareServe, serve } from './serve.js';
import { claimSocket, openShimLog, placeShim, releaseSocket } from './start.js';

/** A task handed to a warm shim (step 3 of the file comment). */
export interface WarmTask {
  namespace: string;
  id: string;
  bundle: string;
  publishBinary?: string;
  debug?: boolean;
  /** The runtime options Any, serialized, base64. */
  options?: string;
}

/** The shim's answer to a {@link WarmTask}. */
export type WarmReply = { address: string; grouped: boolean; pid?: number } | { error: string };

/** Length of the padding argument the runtime appends (room for the rewritten process title). */
export const TITLE_ROOM = 320;

function parseTask(line: string): WarmTask {
  const t = JSON.parse(line) as Partial<WarmTask>;
  for (const k of ['namespace', 'id', 'bundle'] as const) {
    if (typeof t[k] !== 'string' || !t[k]) throw new Error(`warm task: ${k} missing`);
  }
  return t as WarmTask;
}

/** Makes fd 2 the bundle's log FIFO (or /dev/null when nobody reads it). */
function redirectStderr(bundle: string, sys: Sys): void {
  const fd = openShimLog(bundle) ?? openSync('/dev/null', constants.O_WRONLY);
  try {
    sys.dup2(fd, 2);
  } finally {
    closeSync(fd);
  }
}

/** Runs the `warm` action; see the file comment. Resolves when the shim has become a task's shim. */
export async function warm(flags: ShimFlags): Promise<void> {
  const prepared = prepareServe();
  const reply = (r: WarmReply | { ready: true; pid: number }) => process.stdout.write(`${JSON.stringify(r)}\n`);
  process.stdout.on('error', () => process.exit(0)); // the runtime is gone
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })[Symbol.asyncIterator]();
  reply({ ready: true, pid: process.pid });
  for (;;) {
    const next = await lines.next();
    if (next.done) process.exit(0); // step 5
    let task: WarmTask;
    let claimed;
    try {
      task = parseTask(next.value);
      claimed = await claimSocket({ namespace: task.namespace, id: task.id, address: flags.address }, task.bundle);
      if (!claimed.server) {
        reply({ address: claimed.address, grouped: true });
        continue;
      }
      placeShim(process.pid, Buffer.from(task.options ?? '', 'base64'));
    } catch (err) {
      if (claimed) releaseSocket(claimed);
      reply({ error: (err as Error).message });
      continue;
    }
    // From here on this process is the task's shim.
    process.stdin.pause();
    process.chdir(task.bundle);
    process.env.NAMESPACE = task.namespace;
    redirectStderr(task.bundle, prepared.sys);
    process.title = [process.argv[0], process.argv[1], '-namespace', task.namespace, '-id', task.id, '-address', flags.address].join(' ');
    const serving = serve(
      { ...flags, namespace: task.namespace, id: task.id, publishBinary: task.publishBinary ?? '', debug: task.debug ?? false, action: '' },
      { prepared, listener: claimed.server },
    );
    // serve() attached the listener synchronously; the runtime may connect once it reads this.
    reply({ address: claimed.address, grouped: false, pid: process.pid });
    return serving;
  }
}
