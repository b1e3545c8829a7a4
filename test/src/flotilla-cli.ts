/** Runs the `flotilla` command (bin/flotilla) from the repository root, for system tests. */
import { spawn } from 'node:child_process';
import { FLOTILLA_BIN, REPO } from '@flotilla/testkit';

/** How a `flotilla` run ended and what it printed. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/flotilla ARGS`; kills it after `timeoutMs` (then code is 137); never throws on exit code. */
export function runFlotilla(args: string[], opts: { timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [FLOTILLA_BIN, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code: code ?? (signal === 'SIGKILL' ? 137 : 128), stdout, stderr });
    });
  });
}

/** One row of `flotilla status --json`. */
export interface StatusRow {
  service: string;
  pid: number;
  uptimeMs: number;
  restarts: number;
  state: string;
  health: string;
}

/** `flotilla status --state STATE --json`, parsed. */
export async function statusJson(state: string): Promise<{ code: number; supervisor: { pid: number; address: string }; processes: StatusRow[] }> {
  const r = await runFlotilla(['status', '--state', state, '--json']);
  let parsed;
  try {
    parsed = JSON.parse(r.stdout);
  } catch {
    throw new Error(`flotilla status --json exited ${r.code} and printed no JSON: ${r.stdout}${r.stderr}`);
  }
  return { code: r.code, ...parsed };
}
