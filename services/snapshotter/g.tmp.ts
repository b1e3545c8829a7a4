import { rawTar } from './src/differ/test-tar-builder.js';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
const pool = randomBytes(1 << 20);
const out: Buffer[] = [];
for (let d = 0; d < 240; d++) { out.push(rawTar([{ name: `d${d}/`, type: '5' }], { end: false }));
  for (let f = 0; f < 100; f++) { const i = d*100+f; const size = 4096 + ((i * 7919) % (17 * 1024)); const off = (i * 4099) % (pool.length - size);
    out.push(rawTar([{ name: `d${d}/file-${f}.bin`, data: pool.subarray(off, off + size), uid: 1000, gid: 1000 }], { end: false })); } }
out.push(Buffer.alloc(1024)); writeFileSync('/tmp/perf.tar', Buffer.concat(out));
