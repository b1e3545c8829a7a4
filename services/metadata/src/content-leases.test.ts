/** Content records and leases, on LMDB directly and through the bus against a real nats-server. */
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus } from '@flotilla/bus';
import { startNatsServer, type NatsServer } from '@flotilla/natsd';
import { ContentRecordsClient, LeasesClient } from './client.js';
import { openMetadataEnv, type MetadataEnv } from './lmdb/environment.js';
import { lmdbStores } from './lmdb/stores.js';
import { serveMetadata } from './server.js';
import { contentAndLeaseSuite } from './testsuite.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-meta-cl-'));
let env: MetadataEnv;
let env2: MetadataEnv;
let nats: NatsServer;
let server: Bus;
let client: Bus;

before(async () => {
  env = openMetadataEnv({ root: join(dir, 'direct') });
  env2 = openMetadataEnv({ root: join(dir, 'bus') });
  nats = await startNatsServer({ dir: join(dir, 'nats') });
  const c = nats.credentials;
  server = await Bus.connect({ servers: c.url, user: c.user, pass: c.pass, name: 'meta-cl-server' });
  client = await Bus.connect({ servers: c.url, user: c.user, pass: c.pass, name: 'meta-cl-client' });
  serveMetadata(server, lmdbStores(env2));
});

after(async () => {
  await client.close();
  await server.close();
  await nats.stop();
  await env.close();
  await env2.close();
  rmSync(dir, { recursive: true, force: true });
});

contentAndLeaseSuite('lmdb', () => lmdbStores(env));
contentAndLeaseSuite('bus', () => ({ content: new ContentRecordsClient(client), leases: new LeasesClient(client) }));
