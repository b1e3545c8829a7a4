import { applyLayer } from './src/differ/apply.js';
import { rawTar } from './src/differ/test-tar-builder.js';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
const pool = randomBytes(1 << 20);
function gen(): Buffer[] {
  const out: Buffer[] = []; let batch: Buffer[] = []; let bb = 0;
  for (let d = 0; d < 240; d++) { batch.push(rawTar([{ name: `d${d}/`, type: '5' }], { end: false }));
    for (let f = 0; f < 100; f++) { const i = d*100+f; const size = 4096 + ((i * 7919) % (17 * 1024)); const off = (i * 4099) % (pool.length - size);
      const e = rawTar([{ name: `d${d}/file-${f}.bin`, data: pool.subarray(off, off + size), uid: 1000, gid: 1000 }], { end: false }); batch.push(e); bb += e.length;
      if (bb >= 1 << 20) { out.push(Buffer.concat(batch)); batch = []; bb = 0; } } }
  batch.push(Buffer.alloc(1024)); out.push(Buffer.concat(batch)); return out;
}
let t = performance.now(); const chunks = gen(); console.log('gen ms', performance.now() - t);
const root = mkdtempSync(process.env.PERF_BASE ?? '/tmp/perf-');
async function* src() { for (const c of chunks) yield c; }
t = performance.now();
const r = await applyLayer(src(), { kind: 'dir', root }, { mediaType: 'application/vnd.oci.image.layer.v1.tar' });
const s = (performance.now() - t) / 1000; console.log('apply s', s, r.size / 1e6 / s, 'MB/s');
t = performance.now(); rmSync(root, { recursive: true }); console.log('rm ms', performance.now() - t);
