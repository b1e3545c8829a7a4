import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cgroupStats } from './cgroups.js';

const entry = (major: string, minor: string, op: string, value: string) => ({ major, minor, op, value });
const strip = (entries: Record<string, string>[] | undefined) => entries?.map(({ device, ...rest }) => (assert.equal(typeof device, 'string'), rest));

test('blkio statistics as containerd reads them: CFQ files first, throttle.* when they say nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-blkio-'));
  try {
    // No blkio files at all: an empty BlkIOStat (containerd ignores the missing files).
    assert.deepEqual(cgroupStats(new Map([['blkio', dir]])).blkio, {});

    writeFileSync(join(dir, 'blkio.throttle.io_serviced'), '8:0 Read 5\n8:0 Write 7\n8:0 Sync 1\n8:0 Async 11\n8:0 Total 12\nTotal 12\n');
    writeFileSync(join(dir, 'blkio.throttle.io_service_bytes'), '8:0 Read 4096\n8:0 Write 8192\nTotal 12288\n');
    let blkio = cgroupStats(new Map([['blkio', dir]])).blkio as Record<string, Record<string, string>[]>;
    assert.deepEqual(strip(blkio.io_serviced_recursive), [
      entry('8', '0', 'Read', '5'),
      entry('8', '0', 'Write', '7'),
      entry('8', '0', 'Sync', '1'),
      entry('8', '0', 'Async', '11'),
      entry('8', '0', 'Total', '12'),
    ]);
    assert.deepEqual(strip(blkio.io_service_bytes_recursive), [entry('8', '0', 'Read', '4096'), entry('8', '0', 'Write', '8192')]);

    // CFQ files that are all empty: still the throttle fallback.
    for (const f of ['io_serviced_recursive', 'sectors_recursive', 'io_service_bytes_recursive', 'io_queued_recursive', 'io_service_time_recursive', 'io_wait_time_recursive', 'io_merged_recursive', 'time_recursive']) {
      writeFileSync(join(dir, `blkio.${f}`), 'Total 0\n');
    }
    blkio = cgroupStats(new Map([['blkio', dir]])).blkio as Record<string, Record<string, string>[]>;
    assert.equal(blkio.io_serviced_recursive?.length, 5);

    // CFQ files with entries win; `time_recursive` (no op) becomes io_time_recursive.
    writeFileSync(join(dir, 'blkio.sectors_recursive'), '8:16 24\n');
    writeFileSync(join(dir, 'blkio.time_recursive'), '8:16 300\n');
    blkio = cgroupStats(new Map([['blkio', dir]])).blkio as Record<string, Record<string, string>[]>;
    assert.deepEqual(strip(blkio.sectors_recursive), [entry('8', '16', '', '24')]);
    assert.deepEqual(strip(blkio.io_time_recursive), [entry('8', '16', '', '300')]);
    assert.deepEqual(blkio.io_serviced_recursive, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
