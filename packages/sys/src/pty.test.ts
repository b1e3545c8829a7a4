import assert from 'node:assert/strict';
import { closeSync, constants, openSync } from 'node:fs';
import { describe, test } from 'node:test';
import tty from 'node:tty';
import { FakeSys } from './fake.js';
import { defaultSys, nativeLoadError } from './native.js';
import { consoleStreams, getWinsize, openPty, setWinsize } from './pty.js';

describe('pty over FakeSys', () => {
  test('window sizes are kept per master; other descriptors are not terminals', () => {
    const sys = new FakeSys();
    const { master, slavePath } = openPty(sys);
    assert.match(slavePath, /^\/dev\/pts\/\d+$/);
    setWinsize(master, 50, 132, sys);
    assert.deepEqual(getWinsize(master, sys), { rows: 50, cols: 132, xpixel: 0, ypixel: 0 });
    assert.throws(() => setWinsize(sys.eventfd(), 1, 1, sys), { code: 'ENOTTY' });
  });
});

describe('pty on the real system', { skip: nativeLoadError() !== undefined }, () => {
  test('setWinsize on the master is what the slave sees', () => {
    const { master, slavePath } = openPty();
    const slave = openSync(slavePath, constants.O_RDWR | constants.O_NOCTTY);
    try {
      setWinsize(master, 40, 120);
      assert.deepEqual(getWinsize(slave), { rows: 40, cols: 120, xpixel: 0, ypixel: 0 });
    } finally {
      closeSync(slave);
      defaultSys().close(master);
    }
  });

  test('writing more than the terminal holds keeps the event loop running, then completes', { timeout: 20_000 }, async () => {
    const { master, slavePath } = openPty();
    const slave = openSync(slavePath, constants.O_RDWR | constants.O_NOCTTY);
    const { readable, writable, close } = consoleStreams(master);
    readable.resume(); // the echo comes back on the master; keep it flowing
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    const payload = Buffer.from('0123456789abcdef\n'.repeat(20_000)); // 340 kB, far over the ~4 kB queue
    let written = false;
    writable.write(payload, () => (written = true));
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(written, false, 'nobody reads the slave yet: the write waits');
    assert.ok(ticks >= 10, `the event loop kept running (${ticks} ticks in 150 ms)`);
    // Now the container side reads.
    const reader = new tty.ReadStream(slave);
    let got = 0;
    reader.on('data', (d: Buffer) => (got += d.length));
    const t0 = Date.now();
    while (!written && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 10));
    clearInterval(ticker);
    assert.equal(written, true);
    assert.ok(got > 0);
    reader.destroy(); // closes libuv's re-opened slave descriptor...
    closeSync(slave); // ...but the original number stays open (uv_tty_init dup2()s over it)
    const ended = new Promise((r) => readable.once('end', r));
    await ended; // last slave descriptor closed: EIO on the master = end of stream
    close();
  });
});
