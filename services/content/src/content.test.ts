/** The content conformance suite on the local store directly and through the bus client against a real nats-server. */
import { after, before } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bus } from '@flotilla/bus';
import { startNatsServer, type NatsServer } from '@flotilla/natsd';
import { ContentClient } from './client.js';
import { LocalContentStore } from './local/store.js';
import { serveContent } from './server.js';
import { FakeMetadata } from './testing-metadata.js';
import { contentSuite } from './testsuite.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-content-'));
let direct: LocalContentStore;
let served: LocalContentStore;
let nats: NatsServer;
let server: Bus;
let client: Bus;

before(async () => {
  direct = await LocalContentStore.open(join(dir, 'direct'));
  served = await LocalContentStore.open(join(dir, 'bus'));
  nats = await startNatsServer({ dir: join(dir, 'nats') });
  const c = nats.credentials;
  server = await Bus.connect({ servers: c.url, user: c.user, pass: c.pass, name: 'content-test-server' });
  client = await Bus.connect({ servers: c.url, user: c.user, pass: c.pass, name: 'content-test-client' });
  new FakeMetadata(server);
  serveContent(server, served);
});

after(async () => {
  await client.close();
  await server.close();
  await nats.stop();
  rmSync(dir, { recursive: true, force: true });
});

contentSuite('local', () => direct);
contentSuite('bus', () => new ContentClient(client));
