import { startContainerd, startFlotilla, buildLargeImage } from '@flotilla/testkit';
const img = await buildLargeImage();
console.log(JSON.stringify({ oci: img.ociArchive, name: img.name, cached: img.cached, layers: img.layers.map(l => [l.size, l.tarSize]) }));
const [c, f] = await Promise.all([startContainerd(), startFlotilla()]);
console.log(JSON.stringify({ c: c.address, cpid: c.process.pid, f: f.address, fpid: f.process.pid, froot: f.root, cdir: c.dir }));
const stop = async () => { await Promise.allSettled([c.stop(), f.stop()]); process.exit(0); };
process.on('SIGTERM', stop); process.on('SIGINT', stop);
setInterval(() => {}, 1e6);
