import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FakeSys } from './fake.js';
import { mkfifo, openFifoReader, openFifoWriter } from './fifo.js';
import { nativeLoadError } from './native.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('mkfifo over FakeSys records the mode and refuses duplicates', () => {
  const sys = new FakeSys();
  mkfifo('/x/stdin', 0o600, sys);
  assert.equal(sys.fifos.get('/x/stdin'), 0o600);
  assert.throws(() => mkfifo('/x/stdin', 0o600, sys), { code: 'EEXIST' });
});

describe('FIFOs on the real system', { skip: nativeLoadError() !== undefined, timeout: 10_000 }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sys-fifo-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('a reader opened before any writer waits, then reads, then ends when the writer closes', async () => {
    const path = join(dir, 'stdout');
    mkfifo(path);
    assert.ok(statSync(path).isFIFO());
    const reader = openFifoReader(path);
    let text = '';
    let ended = false;
    reader.on('data', (d) => (text += d));
    reader.on('end', () => (ended = true));
    await sleep(50);
    assert.equal(ended, false, 'no end of file before a writer came');
    const writer = openFifoWriter(path);
    writer.end('hello fifo');
    await new Promise((r) => reader.once('end', r));
    assert.equal(text, 'hello fifo');
    reader.destroy();
  });

  test('a writer with no reader neither blocks nor fails, and a late reader gets the data', async () => {
    const path = join(dir, 'stderr');
    mkfifo(path);
    const writer = openFifoWriter(path);
    await new Promise<void>((resolve, reject) => writer.write('buffered ', (err) => (err ? reject(err) : resolve())));
    const reader = openFifoReader(path);
    let text = '';
    reader.on('data', (d) => (text += d));
    writer.end('and more');
    await new Promise((r) => reader.once('end', r));
    assert.equal(text, 'buffered and more');
    reader.destroy();
  });

  test('keepOpen: the reader survives writers coming and going', async () => {
    const path = join(dir, 'stdin');
    mkfifo(path);
    const reader = openFifoReader(path, { keepOpen: true });
    let text = '';
    let ended = false;
    reader.on('data', (d) => (text += d));
    reader.on('end', () => (ended = true));
    for (const word of ['one ', 'two']) {
      const w = openFifoWriter(path);
      await new Promise((r) => w.end(word, () => r(undefined)));
      await new Promise((r) => w.once('close', r));
    }
    await sleep(50);
    assert.equal(text, 'one two');
    assert.equal(ended, false);
    reader.destroy();
  });
});
