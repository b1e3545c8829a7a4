import { DaemonClients } from '../dist/index.js';
import { randomBlob, writeBlob, readBlob } from '../dist/benchmarks/content.js';
const addr = process.argv[2];
const c = new DaemonClients(addr);
await c.ready();
const t = { side: 'x', address: addr, root: '', pid: 0, clients: c };
const blob = randomBlob(8 << 20);
const orig = c.openWrite.bind(c);
c.openWrite = () => { const w = orig(); const s = w.send; w.send = async (req) => { const r = await s(req); console.log('req', req.action, req.offset, '->', r.action, r.offset); return r; }; return w; };
try { await writeBlob(t, 'dbg2-' + Date.now(), blob); console.log('ok'); await readBlob(t, blob); console.log('read ok'); } catch (e) { console.log('ERR', e.message); }
c.close();
