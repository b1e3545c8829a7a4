/**
 * Shim binaries as containerd runs them (containerd-facts §2.1–2.2; `runtime/v2/binary.go`,
 * `runtime/v2/shim/util.go Command`, `manager.go resolveRuntimePath`): resolving a runtime name to
 * a binary, `<shim> … start` (address on stdout) and `<shim> … delete` (a DeleteResponse on stdout).
 */
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import protobuf from 'protobufjs';
import { Code, FlotillaError, messageOf } from '@flotilla/api';
import type { ExitInfo } from './types.js';
import { toTimestamp } from './timestamps.js';

/** `containerd-shim-<name>-<version>` from `a.b.<name>.<version>`; '' when the name has fewer than two parts. */
export function binaryName(runtime: string): string {
  const parts = runtime.split('.');
  if (parts.length < 2) return '';
  return `containerd-shim-${parts[parts.length - 2]}-${parts[parts.length - 1]}`;
}

function isExecutableFile(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `exec.LookPath`: the first executable `name` on PATH. */
export function lookPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (isExecutableFile(candidate)) return candidate;
  }
  return undefined;
}

/** An error of kind Unknown with containerd's text (its runtime errors carry no errdefs kind). */
function plainError(message: string, cause?: unknown): FlotillaError {
  return new FlotillaError(Code.Unknown, message, cause === undefined ? undefined : { cause });
}

/**
 * The shim binary of `runtime`: the configured one, an absolute path as is, else
 * `containerd-shim-<name>-<version>` on PATH. Errors read as containerd 1.6's (kind Unknown).
 */
export function resolveRuntimePath(runtime: string, configured: Readonly<Record<string, string>> = {}, path?: string): string {
  if (!runtime) throw plainError('no runtime name');
  if (Object.hasOwn(configured, runtime)) return configured[runtime]!;
  if (isAbsolute(runtime)) {
    try {
      statSync(runtime);
    } catch (err) {
      throw plainError(`invalid custom binary path: stat ${runtime}: no such file or directory`, err);
    }
    return runtime;
  }
  const name = binaryName(runtime);
  if (!name) {
    throw plainError(`invalid runtime name ${runtime}, correct runtime name should be either format like \`io.containerd.runc.v1\` or a full path to the binary`);
  }
  const found = lookPath(name, path);
  if (!found) throw plainError(`runtime ${JSON.stringify(runtime)} binary not installed ${JSON.stringify(name)}: file does not exist`);
  return found;
}

/** How to invoke one shim for one task. */
export interface ShimCommand {
  binary: string;
  namespace: string;
  id: string;
  /** The bundle folder (cwd of start and delete). */
  bundle: string;
  grpcAddress: string;
  ttrpcAddress: string;
  publishBinary: string;
  debug?: boolean;
}

/** The arguments of `<shim> … start` / `… delete` (Go flags before the action). */
export function shimArgs(c: ShimCommand, action: 'start' | 'delete'): string[] {
  const args = ['-namespace', c.namespace, '-address', c.grpcAddress, '-publish-binary', c.publishBinary, '-id', c.id];
  if (action === 'delete') args.push('-bundle', c.bundle);
  if (c.debug) args.push('-debug');
  args.push(action);
  return args;
}

/** The shim's environment: ours plus what containerd adds. */
export function shimEnv(c: Pick<ShimCommand, 'namespace' | 'grpcAddress' | 'ttrpcAddress'>, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return {
    ...base,
    GOMAXPROCS: base.GOMAXPROCS ?? '2',
    TTRPC_ADDRESS: c.ttrpcAddress,
    GRPC_ADDRESS: c.grpcAddress,
    NAMESPACE: c.namespace,
    MAX_SHIM_VERSION: '2',
  };
}

/** What `start` printed: the address and the protocol version. */
export interface StartResult {
  address: string;
  version: number;
  protocol: string;
}

/**
 * Parses the output of `start`: a bare address (ttrpc, version 2) or JSON
 * `{"version":2,"address":"unix://…","protocol":"ttrpc"}`. Only task API v2 over ttrpc is spoken.
 */
export function parseStartOutput(output: string): StartResult {
  const out = output.trim();
  if (out === '') throw plainError('shim start printed no address');
  if (out.startsWith('{')) {
    let j: { version?: unknown; address?: unknown; protocol?: unknown };
    try {
      j = JSON.parse(out);
    } catch (err) {
      throw plainError(`cannot parse shim start output ${JSON.stringify(out)}`, err);
    }
    const version = typeof j.version === 'number' ? j.version : 2;
    const protocol = typeof j.protocol === 'string' && j.protocol ? j.protocol : 'ttrpc';
    if (typeof j.address !== 'string' || !j.address) throw plainError(`shim start output has no address: ${out}`);
    if (version > 2) throw plainError(`unsupported shim version (${version}): not implemented`);
    if (protocol !== 'ttrpc') throw plainError(`unsupported shim protocol ${JSON.stringify(protocol)}: not implemented`);
    return { address: j.address, version, protocol };
  }
  if (/\s/.test(out)) throw plainError(`unexpected shim start output: ${out}`);
  return { address: out, version: 2, protocol: 'ttrpc' };
}

/** Encodes a `google.protobuf.Any` (field 1 type_url, field 2 value). */
export function encodeAnyMessage(any: { type_url: string; value: Uint8Array }): Uint8Array {
  const w = protobuf.Writer.create();
  if (any.type_url) w.uint32((1 << 3) | 2).string(any.type_url);
  if (any.value.length > 0) w.uint32((2 << 3) | 2).bytes(any.value);
  return w.finish();
}

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  /** stdout and stderr interleaved as they came (Go's CombinedOutput). */
  combined: Buffer;
}

function run(binary: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; stdin?: Uint8Array; timeoutMs?: number; signal?: AbortSignal }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const all: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => (out.push(d), all.push(d)));
    child.stderr.on('data', (d: Buffer) => (err.push(d), all.push(d)));
    const kill = () => {
      try {
        child.kill('SIGKILL');
      } catch {
        /* gone */
      }
    };
    const timer = opts.timeoutMs ? setTimeout(kill, opts.timeoutMs) : undefined;
    opts.signal?.addEventListener('abort', kill, { once: true });
    child.once('error', (e) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', kill);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', kill);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err), combined: Buffer.concat(all) });
    });
    child.stdin.on('error', () => undefined); // a shim that does not read stdin
    child.stdin.end(opts.stdin ? Buffer.from(opts.stdin) : undefined);
  });
}

function exitText(r: RunResult): string {
  return r.signal ? `signal: ${r.signal === 'SIGKILL' ? 'killed' : r.signal}` : `exit status ${r.code}`;
}

/**
 * Runs `<shim> … start` in the bundle with the runtime options Any (encoded) on stdin, and
 * returns the address it printed. The shim daemonizes itself; its log goes to the bundle's FIFO.
 */
export async function startShim(c: ShimCommand, options: Uint8Array | undefined, signal?: AbortSignal): Promise<StartResult> {
  let r: RunResult;
  try {
    r = await run(c.binary, shimArgs(c, 'start'), { cwd: c.bundle, env: shimEnv(c), stdin: options, signal });
  } catch (err) {
    throw plainError(`start failed: fork/exec ${c.binary}: ${messageOf(err)}`, err);
  }
  const out = r.combined.toString('utf8');
  if (r.code !== 0) throw plainError(`start failed: ${out.trim()}: ${exitText(r)}`);
  return parseStartOutput(out);
}

/**
 * Runs `<shim> … delete` in the bundle (the cleanup of a task whose shim is gone) and returns the
 * exit it reports, decoded from the `containerd.task.v2.DeleteResponse` on stdout.
 */
export async function deleteShim(c: ShimCommand, root: protobuf.Root, timeoutMs: number): Promise<{ exit: ExitInfo; warnings: string }> {
  const r = await run(c.binary, shimArgs(c, 'delete'), { cwd: c.bundle, env: shimEnv(c), timeoutMs });
  const stderr = r.stderr.toString('utf8').trim();
  if (r.code !== 0) throw plainError(`${stderr}: ${exitText(r)}`);
  const type = root.lookupType('containerd.task.v2.DeleteResponse');
  const msg = type.toObject(type.decode(r.stdout), { longs: Number, defaults: true }) as { pid: number; exit_status: number; exited_at?: { seconds?: number; nanos?: number } | null };
  return { exit: { pid: msg.pid, exit_status: msg.exit_status, exited_at: toTimestamp(msg.exited_at) }, warnings: stderr };
}
