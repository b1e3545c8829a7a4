/** Content.Read throughput: a 512 MiB blob written (untimed) in the same round, read back and hashed. */
import { performance } from 'node:perf_hooks';
import { status } from '@grpc/grpc-js';
import { isCode } from '../clients.js';
import { simple } from '../types.js';
import { blobSize, deleteBlob, mbPerSecond, randomBlob, readBlob, writeBlob } from './content.js';
import { flushDisk, uniqueName } from './util.js';

export default simple({
  name: 'content.read',
  description:
    'Content.Read (server stream) of a 512 MiB (--quick 64 MiB) random blob written untimed just before (so in the page cache on both ' +
    'sides), sha256 of every chunk checked on the fly; MB/s (10^6 bytes). A fresh blob per round, deleted after it.',
  unit: 'MB/s',
  better: 'higher',
  async run(t, { quick, round, runId, measure, note }) {
    const blob = randomBlob(blobSize(quick));
    try {
      await writeBlob(t, uniqueName(runId, 'read', round, t.side), blob);
      flushDisk();
      const t0 = performance.now();
      await measure('read', () => readBlob(t, blob));
      return mbPerSecond(blob.data.length, (performance.now() - t0) / 1000);
    } finally {
      await deleteBlob(t, blob.digest, note).catch((err) => {
        if (!isCode(err, status.NOT_FOUND)) throw err; // nothing was committed
      });
    }
  },
});
