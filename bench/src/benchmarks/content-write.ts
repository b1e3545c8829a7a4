/** Content.Write throughput: one 512 MiB random blob per round, lock-step 1 MiB WRITE messages. */
import { performance } from 'node:perf_hooks';
import { status } from '@grpc/grpc-js';
import { isCode } from '../clients.js';
import { simple } from '../types.js';
import { WRITE_CHUNK, blobSize, deleteBlob, mbPerSecond, randomBlob, writeBlob } from './content.js';
import { uniqueName } from './util.js';

export default simple({
  name: 'content.write',
  description:
    `Content.Write of a fresh random 512 MiB (--quick 64 MiB) blob, lock step: STAT, WRITE × ${WRITE_CHUNK >> 20} MiB with offsets, ` +
    'COMMIT with total and expected digest; MB/s (10^6 bytes) from the STAT to the COMMIT response. Deleted between rounds.',
  unit: 'MB/s',
  better: 'higher',
  async run(t, { quick, round, runId, measure, note }) {
    const blob = randomBlob(blobSize(quick));
    const ref = uniqueName(runId, 'write', round, t.side);
    try {
      const t0 = performance.now();
      await measure('write', () => writeBlob(t, ref, blob));
      const seconds = (performance.now() - t0) / 1000;
      const info = await t.clients.contentInfo(blob.digest);
      if (Number(info.info.size) !== blob.data.length) throw new Error(`${t.side}: Info says ${info.info.size} bytes, wrote ${blob.data.length}`);
      return mbPerSecond(blob.data.length, seconds);
    } finally {
      await deleteBlob(t, blob.digest, note).catch((err) => {
        if (!isCode(err, status.NOT_FOUND)) throw err; // nothing was committed
      });
    }
  },
});
