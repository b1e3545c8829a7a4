/** Runs Debian's real `ctr` against a socket. */
import { spawn } from 'node:child_process';

/** What a ctr run printed and how it ended. */
export interface CtrResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ctr -a address ARGS` (with optional stdin) and collects its output; never throws on exit code. */
export function ctr(address: string, args: string[], opts: { input?: string; timeoutMs?: number; namespace?: string } = {}): Promise<CtrResult> {
  const full = ['-a', address, ...(opts.namespace ? ['-n', opts.namespace] : []), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn('ctr', full, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Like ctr() but fails the test on a non-zero exit. */
export async function ctrOk(address: string, args: string[], opts: { input?: string; timeoutMs?: number; namespace?: string } = {}): Promise<string> {
  const r = await ctr(address, args, opts);
  if (r.code !== 0) throw new Error(`ctr ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** One row of `ctr task ls`. */
export interface TaskRow {
  id: string;
  pid: number;
  status: string;
}

/** The rows of `ctr task ls` output (header dropped), in the order printed. */
export function parseTaskList(out: string): TaskRow[] {
  return out
    .trim()
    .split('\n')
    .slice(1)
    .filter((l) => l.trim())
    .map((l) => {
      const [id, pid, status] = l.trim().split(/\s+/);
      return { id: id!, pid: Number(pid), status: status! };
    });
}
