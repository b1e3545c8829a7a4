/** The namespace conformance suite on LMDB directly and through the bus client against a real nats-server. */
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus } from '@flotilla/bus';
import { startNatsServer, type NatsServer } from '@flotilla/natsd';
import { openMetadataEnv, type MetadataEnv } from './lmdb/environment.js';
import { LmdbNamespaceStore } from './lmdb/namespaces.js';
import { NamespacesClient } from './client.js';
import { serveMetadata } from './server.js';
import { lmdbStores } from './lmdb/stores.js';
import { namespaceSuite } from './testsuite.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-meta-'));
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
  server = await Bus.connect({ servers: c.url, user: c.user, pass: c.pass, name: 'meta-test-server' });
  client = await Bus.connect({ servers: c.url, user: c.user, pass: c.pass, name: 'meta-test-client' });
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

const addObject = (e: () => MetadataEnv) => ({
  add: async (ns: string, kind: string) => void (await e().objects.put([ns, kind, 'x'], { placeholder: true })),
});
namespaceSuite('lmdb', () => new LmdbNamespaceStore(env), addObject(() => env));
namespaceSuite('bus', () => new NamespacesClient(client), addObject(() => env2));
