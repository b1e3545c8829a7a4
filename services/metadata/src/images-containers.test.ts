/** Images and containers, on LMDB directly and through the bus against a real nats-server. */
import { ContainersClient, ImagesClient } from './client.js';
import { lmdbStores } from './lmdb/stores.js';
import { metadataOnBus } from './testing-bus.js';
import { imageAndContainerSuite } from './testsuite.js';

const f = metadataOnBus('meta-ic');
imageAndContainerSuite('lmdb', () => lmdbStores(f.direct));
imageAndContainerSuite('bus', () => ({ images: new ImagesClient(f.client), containers: new ContainersClient(f.client) }));
