/** `flotilla fsck` and `flotilla gc`: administration calls to the metadata service over the bus. */
import { parseArgs } from 'node:util';
import { Bus } from '@flotilla/bus';
import { defaultConfig } from '@flotilla/config';
import { readCredentials } from '@flotilla/natsd';
import { readStatus } from '@flotilla/supervisor';

/** Connects to the bus of the Flotilla running with `state`. */
async function connect(state: string): Promise<Bus> {
  const st = readStatus(state);
  const creds = readCredentials(st.credentials);
  return Bus.connect({ servers: creds.url, user: creds.user, pass: creds.pass, name: 'flotilla-admin', noWaitOnFirstConnect: true, requestTimeoutMs: 600_000 });
}

interface FsckReport {
  problems: { kind: string; namespace: string; id: string; detail?: string }[];
  orphanBlobs: string[];
  orphanSnapshots: { snapshotter: string; key: string }[];
  checked: Record<string, number>;
}

/** Runs `flotilla fsck [--state DIR] [--json]`: exit 0 when consistent, 1 when metadata points at missing data. */
export async function fsckCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { state: { type: 'string' }, json: { type: 'boolean' } }, strict: true });
  const bus = await connect(values.state ?? defaultConfig().state);
  try {
    const r = await bus.call<FsckReport>('metadata-admin', 'Fsck', {}, { timeoutMs: 600_000 });
    if (values.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    else {
      const c = r.checked;
      process.stdout.write(`checked ${c.content} content, ${c.snapshots} snapshot, ${c.images} image and ${c.containers} container records\n`);
      for (const p of r.problems) process.stdout.write(`PROBLEM ${p.kind} ${p.namespace} ${p.id}${p.detail ? ` (${p.detail})` : ''}\n`);
      for (const d of r.orphanBlobs) process.stdout.write(`orphan blob ${d}\n`);
      for (const s of r.orphanSnapshots) process.stdout.write(`orphan snapshot ${s.snapshotter} ${s.key}\n`);
      process.stdout.write(r.problems.length === 0 ? 'consistent\n' : `${r.problems.length} problem(s)\n`);
    }
    return r.problems.length === 0 ? 0 : 1;
  } finally {
    await bus.close(100);
  }
}

/** Runs `flotilla gc [--state DIR]`: one collection now; prints what it removed. */
export async function gcCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { state: { type: 'string' } }, strict: true });
  const bus = await connect(values.state ?? defaultConfig().state);
  try {
    const r = await bus.call<{ content: number; snapshots: number; leases: number; pauseMs: number }>('metadata-admin', 'Collect', {}, { timeoutMs: 600_000 });
    process.stdout.write(`removed ${r.content} content, ${r.snapshots} snapshot and ${r.leases} lease records (paused ${r.pauseMs} ms)\n`);
    return 0;
  } finally {
    await bus.close(100);
  }
}
