/** The metadata service's interfaces over the bus. */
import { ServiceClient, type Bus, type CallOptions } from '@flotilla/bus';
import { METADATA_SERVICE, type MetadataContract, type Namespace, type NamespaceStore } from './types.js';

/** NamespaceStore served by a remote metadata process. */
export class NamespacesClient implements NamespaceStore {
  private readonly c: ServiceClient<MetadataContract>;
  constructor(
    bus: Bus,
    private readonly opts: () => CallOptions = () => ({}),
  ) {
    this.c = new ServiceClient<MetadataContract>(bus, METADATA_SERVICE);
  }

  async get(name: string): Promise<Namespace> {
    return (await this.c.call('Namespaces.Get', { name }, this.opts())).namespace;
  }
  async list(): Promise<Namespace[]> {
    return (await this.c.call('Namespaces.List', {}, this.opts())).namespaces;
  }
  async create(name: string, labels: Record<string, string>): Promise<Namespace> {
    return (await this.c.call('Namespaces.Create', { namespace: { name, labels } }, this.opts())).namespace;
  }
  async update(name: string, labels: Record<string, string>, paths?: string[]): Promise<Namespace> {
    return (await this.c.call('Namespaces.Update', { namespace: { name, labels }, update_mask: paths }, this.opts())).namespace;
  }
  async delete(name: string): Promise<void> {
    await this.c.call('Namespaces.Delete', { name }, this.opts());
  }
}
