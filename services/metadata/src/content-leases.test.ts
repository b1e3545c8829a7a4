/** Content records and leases, on LMDB directly and through the bus against a real nats-server. */
import { ContentRecordsClient, LeasesClient } from './client.js';
import { lmdbStores } from './lmdb/stores.js';
import { metadataOnBus } from './testing-bus.js';
import { contentAndLeaseSuite } from './testsuite.js';

const f = metadataOnBus('meta-cl');
contentAndLeaseSuite('lmdb', () => lmdbStores(f.direct));
contentAndLeaseSuite('bus', () => ({ content: new ContentRecordsClient(f.client), leases: new LeasesClient(f.client) }));
