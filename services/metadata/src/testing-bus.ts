/**
 * Test support (not exported): two metadata envs — one used directly, one served on a real
 * nats-server — and a client bus, for running a conformance suite on both sides.
 */
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus } from '@flotilla/bus';
import { startNatsServer, type NatsServer } from '@flotilla/natsd';
import { openMetadataEnv, type MetadataEnv } from './lmdb/environment.js';
import { lmdbStores } from './lmdb/stores.js';
import { serveMetadata } from './server.js';

/** The fixture's parts, set once `before` has run. */
export interface MetadataFixture {
  /** The env tests use directly. */
  direct: MetadataEnv;
  /** The env behind the bus server. */
  served: MetadataEnv;
  /** A bus connection for clients. */
  client: Bus;
}

/** Registers before/after hooks that build and tear down the fixture. */
export function metadataOnBus(name: string): MetadataFixture {
  const dir = mkdtempSync(join(tmpdir(), `flotilla-${name}-`));
  const f = {} as MetadataFixture;
  let nats: NatsServer;
  let server: Bus;
  before(async () => {
    f.direct = openMetadataEnv({ root: join(dir, 'direct') });
    f.served = openMetadataEnv({ root: join(dir, 'bus') });
    nats = await startNatsServer({ dir: join(dir, 'nats') });
    const c = nats.credentials;
    server = await Bus.connect({ servers: c.url, user: c.user, pass: c.pass, name: `${name}-server` });
    f.client = await Bus.connect({ servers: c.url, user: c.user, pass: c.pass, name: `${name}-client` });
    serveMetadata(server, lmdbStores(f.served));
  });
  after(async () => {
    await f.client.close();
    await server.close();
    await nats.stop();
    await f.direct.close();
    await f.served.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return f;
}
