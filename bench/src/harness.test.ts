/**
 * Smoke test of the bench harness (not a timed test: it asserts no figure, only that the harness
 * still runs end to end). Runs the CLI in --quick mode for one benchmark against both daemons and
 * checks that both sides produced a positive number, in the table and in the JSON file.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { main } from './cli.js';
import type { Report } from './harness.js';

const BENCHMARK = 'namespaces.get';

describe('bench harness', () => {
  const out = mkdtempSync(join(tmpdir(), 'flotilla-bench-'));
  after(() => rmSync(out, { recursive: true, force: true }));

  it(`runs --quick --only ${BENCHMARK} against containerd and flotilla`, { timeout: 60_000 }, async () => {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const r = await main(['--quick', '--only', BENCHMARK, '--out', out], { out: (t) => stdout.push(t), err: (t) => stderr.push(t) });
    assert.equal(r.code, 0, `exit code ${r.code}:\n${stderr.join('\n')}`);

    // The returned report.
    assert.ok(r.report);
    assert.equal(r.report.rows.length, 1);
    const row = r.report.rows[0];
    assert.equal(row.benchmark, BENCHMARK);
    assert.ok(row.containerd > 0, `containerd: ${row.containerd}`);
    assert.ok(row.flotilla > 0, `flotilla: ${row.flotilla}`);
    assert.ok(Number.isFinite(row.ratio) && row.ratio > 0, `ratio: ${row.ratio}`);

    // The printed table: a row with the benchmark name and two positive numbers and a ratio.
    const text = stdout.join('\n');
    const line = text.split('\n').find((l) => l.startsWith(BENCHMARK));
    assert.ok(line, `no ${BENCHMARK} row in:\n${text}`);
    const cells = line.trim().split(/\s+/);
    const [containerd, flotilla] = cells.slice(-3, -1).map(Number);
    assert.ok(containerd > 0 && flotilla > 0, `row: ${line}`);
    assert.match(cells.at(-1)!, /^\d+\.\d\dx$/);

    // The JSON file.
    assert.ok(r.file && existsSync(r.file), `no JSON file ${r.file}`);
    assert.ok(r.file.startsWith(out));
    const json = JSON.parse(readFileSync(r.file, 'utf8')) as Report;
    assert.deepEqual(json.rows.map((x) => x.benchmark), [BENCHMARK]);
    assert.ok(json.rows[0].containerd > 0 && json.rows[0].flotilla > 0);
    assert.equal(json.rows[0].rounds.containerd.length, 1);
    assert.equal(json.rows[0].rounds.flotilla.length, 1);
  });

  it('rejects an unknown benchmark without starting anything', async () => {
    const stderr: string[] = [];
    const r = await main(['--only', 'no.such.bench', '--out', out], { out: () => undefined, err: (t) => stderr.push(t) });
    assert.equal(r.code, 1);
    assert.match(stderr.join('\n'), /unknown benchmark "no.such.bench"; known: namespaces.create/);
  });
});
