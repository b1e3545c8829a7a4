/**
 * The long-lived shim (no action on the command line): serves `containerd.task.v2.Task` over
 * ttrpc on the listening socket inherited as fd 3 (or on `-socket <path>`), with the peer
 * credential check on (same uid and gid as this process; containerd-facts §1.7).
 *
 * Set up in this order, as the runc shim does (`runtime/v2/shim/shim.go run`): child subreaper and
 * reaper first (before anything is spawned — container inits are reparented to us and their exit
 * reaches us only through it), the event publisher to `$TTRPC_ADDRESS`, then the service.
 *
 * Logs: JSON lines on stderr, which `start` pointed at the bundle's `log` FIFO (containerd copies
 * it into its own log); `-debug` lowers the level to debug.
 *
 * Exit: on Shutdown when no container is left, or on SIGTERM/SIGINT — stop serving, flush the
 * pending events (≤ 5 s), remove the socket named in `./address` (read at startup), exit 0.
 * Containers still running then stay running (reparented to init), as with the runc shim.
 */
import { fstatSync, readFileSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:net';
import type protobuf from 'protobufjs';
import { messageOf } from '@flotilla/api';
import { createLogger, type Logger } from '@flotilla/log';
import { EVENT_TYPES_PROTOS, RUNC_OPTIONS_PROTO, SHIM_PROTO, TTRPC_EVENTS_PROTO, loadRoot } from '@flotilla/protos';
import { defaultSys, setChildSubreaper, startReaper, type Reaper, type Sys } from '@flotilla/sys';
import { TtrpcServer, type Handler } from '@flotilla/ttrpc';
import { addressPath } from './address.js';
import { OomWatcher } from './cgroups.js';
import { ExitRouter } from './exits.js';
import type { ShimFlags } from './flags.js';
import { Publisher } from './publisher.js';
import { TASK_SERVICE, TaskService } from './service.js';

/** Go's `socketPathLimit` for `-socket`. */
const SOCKET_PATH_LIMIT = 106;

/** Wraps handlers to log each call (method, id, duration, error) at debug level. */
function traced(handlers: Record<string, Handler>, logger: Logger): Record<string, Handler> {
  if (!logger.isLevelEnabled('debug')) return handlers;
  const out: Record<string, Handler> = {};
  for (const [method, h] of Object.entries(handlers)) {
    out[method] = async (req: { id?: string; exec_id?: string }, ctx) => {
      const t0 = performance.now();
      try {
        return await h(req, ctx);
      } catch (err) {
        logger.debug({ method, task: req.id, exec: req.exec_id || undefined, err: messageOf(err) }, 'call failed');
        throw err;
      } finally {
        logger.debug({ method, task: req.id, exec: req.exec_id || undefined, ms: Math.round(performance.now() - t0) }, 'call');
      }
    };
  }
  return out;
}

/** What a shim sets up before it knows its task: done early by a warm shim (warm.ts). */
export interface Prepared {
  sys: Sys;
  reaper: Reaper;
  root: protobuf.Root;
}

/** Child subreaper, reaper, the protobuf types: everything before the first task. */
export function prepareServe(): Prepared {
  const sys = defaultSys();
  setChildSubreaper(sys);
  const reaper = startReaper();
  const root = loadRoot([SHIM_PROTO, RUNC_OPTIONS_PROTO, TTRPC_EVENTS_PROTO, ...EVENT_TYPES_PROTOS]);
  return { sys, reaper, root };
}

/** How {@link serve} gets its socket and setup when not from fd 3 / `-socket` and scratch. */
export interface ServeOptions {
  /** Done already (a warm shim). */
  prepared?: Prepared;
  /** A listener claimed already (a warm shim's, see start.ts claimSocket). */
  listener?: Server;
}

/** Serves until shut down; see the file comment. */
export async function serve(flags: ShimFlags, opts: ServeOptions = {}): Promise<void> {
  const { sys, reaper, root } = opts.prepared ?? prepareServe();
  process.stderr.on('error', () => undefined); // containerd may go away; never die of EPIPE
  // stderr is the bundle's log FIFO, read by the runtime while the task exists: a line it cannot
  // take now (reader slow or gone) is dropped rather than stall or hang the shim at exit.
  try {
    if (fstatSync(2).isFIFO()) sys.setNonblocking(2, true);
  } catch {
    // no stderr
  }
  const logger = createLogger('shim', flags.debug ? 'debug' : undefined, { bestEffort: true }).child({ namespace: flags.namespace, id: flags.id });
  process.on('unhandledRejection', (err) => logger.error({ err: messageOf(err) }, 'unhandled rejection'));
  process.on('uncaughtException', (err) => logger.error({ err: err.stack ?? messageOf(err) }, 'uncaught exception'));

  const publisher = new Publisher({ address: process.env.TTRPC_ADDRESS ?? '', namespace: flags.namespace, root, logger });
  const exits = new ExitRouter(reaper);
  const oom = new OomWatcher(sys, (id) => void publisher.publish('TaskOOM', { container_id: id }), logger);
  const server = new TtrpcServer({ root, logger });

  // The socket to remove at exit, read now (as the runc shim does): with grouping, the bundle we
  // were started in (our working directory) may be gone by the time the last container is.
  let socketFile: string | undefined;
  try {
    socketFile = flags.socket ? undefined : addressPath(readFileSync('address', 'utf8').trim());
  } catch {
    // started without an address file (tests, -socket)
  }
  let stopping = false;
  const shutdown = async (why: string) => {
    if (stopping) return;
    stopping = true;
    logger.debug({ why }, 'shutting down');
    // Idle connections are ended at once; a peer that keeps its side open is not waited for long.
    await server.shutdown({ timeoutMs: 300 }).catch(() => undefined);
    oom.stop();
    await publisher.flush(5000);
    publisher.close();
    logger.debug({ why, pendingEvents: publisher.pending }, 'stopped serving; exiting');
    if (socketFile) {
      try {
        unlinkSync(socketFile);
      } catch {
        // already removed
      }
    }
    reaper.stop();
    process.exit(0);
  };

  const service = new TaskService({
    env: { namespace: flags.namespace, sys, logger, exits, publish: (name, payload) => publisher.publish(name, payload), oom },
    root,
    logger,
    // Answer the Shutdown call first, then go.
    onShutdown: () => setImmediate(() => void shutdown('Shutdown')),
  });
  server.register(TASK_SERVICE, traced(service.handlers(), logger));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  if (opts.listener) {
    server.serve(opts.listener);
  } else if (flags.socket) {
    if (flags.socket.length > SOCKET_PATH_LIMIT) throw new Error(`${JSON.stringify(flags.socket)}: unix socket path too long (> ${SOCKET_PATH_LIMIT})`);
    await server.listen(flags.socket);
  } else {
    await server.listenFd(3);
  }
  logger.debug({ pid: process.pid, startupMs: Math.round(performance.now()) }, 'serving api');
}
