/** The namespace conformance suite on LMDB directly and through the bus client against a real nats-server. */
import type { MetadataEnv } from './lmdb/environment.js';
import { LmdbNamespaceStore } from './lmdb/namespaces.js';
import { NamespacesClient } from './client.js';
import { metadataOnBus } from './testing-bus.js';
import { namespaceSuite } from './testsuite.js';

const f = metadataOnBus('meta-ns');
const addObject = (e: () => MetadataEnv) => ({
  add: async (ns: string, kind: string) => void (await e().objects.put([ns, kind, 'x'], { placeholder: true })),
});
namespaceSuite('lmdb', () => new LmdbNamespaceStore(f.direct), addObject(() => f.direct));
namespaceSuite('bus', () => new NamespacesClient(f.client), addObject(() => f.served));
