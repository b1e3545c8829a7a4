/**
 * The runc command line as the runc shim drives it (containerd-facts §2.8; go-runc `runc.go`,
 * `pkg/process/init.go NewRunc`):
 *
 * ```
 * runc --root <root>/<ns> --log <bundle>/log.json --log-format json [--systemd-cgroup] <command> …
 * ```
 *
 * Any OCI runtime with runc's command line works (`binary_name` in the runc options, e.g. crun).
 * Commands run through node:child_process (libuv reaps them; our reaper leaves them alone). A
 * command that gets the container's stdio (create, exec) cannot have its output captured; the
 * others' stdout+stderr become the error text, as in go-runc's `runOrError`
 * (`<command> did not terminate successfully: exit status <n>: <output>`, a signal counting as
 * 128 + its number). `NOTIFY_SOCKET` is removed from runc's environment.
 *
 * Not like go-runc: runc is not started with a parent-death signal (Node cannot set
 * PR_SET_PDEATHSIG for a child).
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { Code, FlotillaError } from '@flotilla/api';

/** Where runc keeps container state by default (`process.RuncRoot`); the namespace is appended. */
export const RUNC_ROOT = '/run/containerd/runc';

/** How to run the OCI runtime. */
export interface RuncConfig {
  /** The binary (default `runc`, looked up on PATH). */
  command?: string;
  /** `--root` (already including the namespace). */
  root: string;
  /** `--log` file (`<bundle>/log.json`); written as JSON lines. */
  log: string;
  systemdCgroup?: boolean;
}

/** A failed runtime command: its exit code and what it printed. */
export class RuncError extends Error {
  override name = 'RuncError';
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly output: string,
  ) {
    super(message);
  }
}

/** stdio of a runtime command that hands it to the container: fds or /dev/null. */
export type ContainerStdio = [number | 'ignore', number | 'ignore', number | 'ignore'];

/** Options of {@link Runc.create}. */
export interface CreateOptions {
  pidFile: string;
  consoleSocket?: string;
  noPivot?: boolean;
  noNewKeyring?: boolean;
  /** The container's stdio (non-terminal); runc's output is captured when absent. */
  stdio?: ContainerStdio;
}

/** Options of {@link Runc.exec}. */
export interface ExecOptions {
  pidFile: string;
  consoleSocket?: string;
  stdio?: ContainerStdio;
}

function runcEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NOTIFY_SOCKET;
  return env;
}

/** A runtime command line; see the file comment. */
export class Runc {
  readonly command: string;

  constructor(readonly config: RuncConfig) {
    this.command = config.command || 'runc';
  }

  /** The global options. */
  globalArgs(): string[] {
    const out = ['--root', this.config.root, '--log', this.config.log, '--log-format', 'json'];
    if (this.config.systemdCgroup) out.push('--systemd-cgroup');
    return out;
  }

  /**
   * Runs `<command> <global> args…`. With `stdio` the command gets those descriptors and its output
   * is not captured; otherwise stdout+stderr are collected into the error. `input` goes to stdin.
   */
  run(args: readonly string[], opts: { stdio?: ContainerStdio; input?: Buffer | string } = {}): Promise<string> {
    const full = [...this.globalArgs(), ...args];
    return new Promise((resolve, reject) => {
      let output = '';
      const stdio: StdioOptions = opts.stdio ?? [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'];
      const child = spawn(this.command, full, { stdio, env: runcEnv() });
      child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      if (opts.input !== undefined && child.stdin) child.stdin.end(opts.input);
      child.stdin?.on('error', () => undefined); // runc may exit before reading
      child.once('error', (err) => reject(new RuncError(execErrorText(this.command, err), null, '')));
      child.once(opts.stdio ? 'exit' : 'close', (code, signal) => {
        if (code === 0) return resolve(output);
        // go-runc's ExitError; the shim's reaper reports a signal as 128 + its number.
        const status = code ?? 128 + (signal ? (osConstants.signals[signal as NodeJS.Signals] ?? 0) : 0);
        const text = opts.stdio ? '' : `: ${output}`;
        reject(new RuncError(`${this.command} did not terminate successfully: exit status ${status}${text}`, status, output));
      });
    });
  }

  /**
   * The last error runc wrote to its JSON log (`getLastRuntimeError`), or '' when there is none.
   * Throws (Go's text: `open <log>: <reason>`) when the log cannot be read.
   */
  lastError(): string {
    let text: string;
    try {
      text = readFileSync(this.config.log, 'utf8');
    } catch (err) {
      throw new Error(`open ${this.config.log}: ${errnoText(err)}`);
    }
    let msg = '';
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const entry = JSON.parse(line) as { level?: string; msg?: string };
        if (entry.level === 'error' && typeof entry.msg === 'string') msg = entry.msg.trim();
      } catch {
        // a partial line
      }
    }
    return msg;
  }

  /**
   * The runc shim's `runtimeError`: `<msg>: <runc's last logged error>`, or `<msg>: <err>` when it
   * logged none, or `<msg>: unable to retrieve OCI runtime error (<why>): <err>` when the log
   * cannot be read (e.g. the runtime binary could not be started at all).
   */
  runtimeError(err: unknown, msg: string): Error {
    const errText = (err as Error)?.message ?? String(err);
    let text: string;
    try {
      const last = this.lastError();
      text = last ? `${msg}: ${last}` : `${msg}: ${errText}`;
    } catch (readErr) {
      text = `${msg}: unable to retrieve OCI runtime error (${(readErr as Error).message}): ${errText}`;
    }
    return new FlotillaError(Code.Unknown, text, { cause: err });
  }

  /** `create --bundle … --pid-file … [--console-socket …] [--no-pivot] [--no-new-keyring] <id>`. */
  async create(id: string, bundle: string, opts: CreateOptions): Promise<void> {
    const args = ['create', '--bundle', bundle, '--pid-file', opts.pidFile];
    if (opts.consoleSocket) args.push('--console-socket', opts.consoleSocket);
    if (opts.noPivot) args.push('--no-pivot');
    if (opts.noNewKeyring) args.push('--no-new-keyring');
    args.push(id);
    await this.run(args, { stdio: opts.stdio });
  }

  /** `start <id>`. */
  async start(id: string): Promise<void> {
    await this.run(['start', id]);
  }

  /**
   * `exec --process <tmp json> --detach --pid-file … [--console-socket …] <id>`: the process spec is
   * written to a private temporary file that is removed afterwards.
   */
  async exec(id: string, spec: object, opts: ExecOptions): Promise<void> {
    const dir = mkdtempSync(join(process.env.XDG_RUNTIME_DIR || tmpdir(), 'runc-process'));
    const file = join(dir, 'process.json');
    try {
      writeFileSync(file, JSON.stringify(spec), { mode: 0o600 });
      const args = ['exec', '--process', file, '--detach', '--pid-file', opts.pidFile];
      if (opts.consoleSocket) args.push('--console-socket', opts.consoleSocket);
      args.push(id);
      await this.run(args, { stdio: opts.stdio });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** `delete [--force] <id>`. */
  async delete(id: string, opts: { force?: boolean } = {}): Promise<void> {
    await this.run(['delete', ...(opts.force ? ['--force'] : []), id]);
  }

  /** `kill [--all] <id> <signal>`. */
  async kill(id: string, signal: number, opts: { all?: boolean } = {}): Promise<void> {
    await this.run(['kill', ...(opts.all ? ['--all'] : []), id, String(signal)]);
  }

  /** `pause <id>`. */
  async pause(id: string): Promise<void> {
    await this.run(['pause', id]);
  }

  /** `resume <id>`. */
  async resume(id: string): Promise<void> {
    await this.run(['resume', id]);
  }

  /** `ps --format json <id>`: the pids in the container's cgroup. */
  async ps(id: string): Promise<number[]> {
    const out = await this.run(['ps', '--format', 'json', id]);
    const pids = JSON.parse(out) as number[] | null;
    return pids ?? [];
  }

  /** `update --resources - <id>` with the LinuxResources JSON on stdin. */
  async update(id: string, resources: Buffer | string): Promise<void> {
    await this.run(['update', '--resources', '-', id], { input: resources });
  }
}

/** Go's text for an errno error (`no such file or directory`), from libuv's table. */
function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.errno === 'number') {
    const known = getSystemErrorMap().get(e.errno);
    if (known) return known[1];
  }
  return e?.message ?? String(err);
}

/**
 * Go's os/exec error for a runtime that cannot be started: `exec: "<name>": executable file not
 * found in $PATH` for a bare name, else `fork/exec <path>: <reason>`.
 */
export function execErrorText(command: string, err: unknown): string {
  if (!command.includes('/') && (err as NodeJS.ErrnoException)?.code === 'ENOENT') return `exec: ${JSON.stringify(command)}: executable file not found in $PATH`;
  return `fork/exec ${command}: ${errnoText(err)}`;
}

/** Reads a pid file runc wrote. */
export function readPidFile(path: string): number {
  const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`invalid pid in ${path}`);
  return pid;
}

/**
 * go-runc's `checkKillError` for `runc kill`: a process that is gone is NotFound
 * ("process already finished"), a container that is gone NotFound ("no such container").
 */
export function killError(err: unknown): Error {
  const text = err instanceof RuncError ? `${err.message}\n${err.output}` : (err as Error)?.message ?? String(err);
  if (/os: process already finished|container not running|no such process/i.test(text) || (err as NodeJS.ErrnoException)?.code === 'ESRCH') {
    return new FlotillaError(Code.NotFound, 'process already finished: not found', { cause: err });
  }
  if (text.includes('does not exist')) return new FlotillaError(Code.NotFound, 'no such container: not found', { cause: err });
  return new FlotillaError(Code.Unknown, `unknown error after kill: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}
