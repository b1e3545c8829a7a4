/** `flotilla status`: each process with pid, uptime, restarts and health. */
import { parseArgs } from 'node:util';
import { Bus } from '@flotilla/bus';
import { defaultConfig } from '@flotilla/config';
import { readCredentials } from '@flotilla/natsd';
import { readStatus } from '@flotilla/supervisor';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

/** Runs `flotilla status ARGS`; returns the exit code (1 when Flotilla is not running). */
export async function statusCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { state: { type: 'string' }, json: { type: 'boolean' } }, strict: true });
  const state = values.state ?? defaultConfig().state;
  const st = readStatus(state);
  if (!alive(st.pid)) {
    process.stderr.write(`flotilla is not running (supervisor pid ${st.pid} is gone)\n`);
    return 1;
  }
  const creds = readCredentials(st.credentials);
  const bus = await Bus.connect({ servers: creds.url, user: creds.user, pass: creds.pass, name: 'flotilla-status', noWaitOnFirstConnect: true });
  const now = Date.now();
  const rows = await Promise.all(
    st.processes.map(async (p) => {
      let health = 'down';
      if (p.pid && alive(p.pid)) {
        try {
          health = (await bus.health(p.service, 1000)).status;
        } catch {
          health = 'unreachable';
        }
      }
      return { service: p.service, pid: p.pid, uptimeMs: p.startedAt ? now - p.startedAt : 0, restarts: Math.max(0, p.restarts), state: p.state, health };
    }),
  );
  await bus.close(100);
  if (values.json) {
    process.stdout.write(JSON.stringify({ supervisor: { pid: st.pid, uptimeMs: now - st.startedAt, address: st.address }, processes: rows }, null, 2) + '\n');
  } else {
    const lines = [['SERVICE', 'PID', 'UPTIME', 'RESTARTS', 'HEALTH']];
    for (const r of rows) lines.push([r.service, String(r.pid), duration(r.uptimeMs), String(r.restarts), r.health]);
    const w = lines[0].map((_, i) => Math.max(...lines.map((l) => l[i].length)));
    for (const l of lines) process.stdout.write(l.map((c, i) => c.padEnd(w[i])).join('   ').trimEnd() + '\n');
  }
  return rows.every((r) => r.health === 'serving') ? 0 : 1;
}
