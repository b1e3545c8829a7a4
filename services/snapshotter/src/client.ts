/** A snapshotter backend of a remote snapshotter process, over the bus. */
import { ServiceClient, type Bus, type CallOptions } from '@flotilla/bus';
import {
  LIST_METHOD,
  SNAPSHOTTER_SERVICE,
  type Info,
  type InfoUpdate,
  type ListBatch,
  type ListRequest,
  type Mount,
  type Snapshotter,
  type SnapshotterContract,
  type Usage,
} from './types.js';

/** The Snapshotter interface of backend `snapshotter` (`overlayfs`, `native`) served on the bus. */
export class SnapshotterClient implements Snapshotter {
  private readonly c: ServiceClient<SnapshotterContract>;
  constructor(
    private readonly bus: Bus,
    /** Backend name sent with every request. */
    readonly snapshotter: string,
    private readonly opts: () => CallOptions = () => ({}),
  ) {
    this.c = new ServiceClient<SnapshotterContract>(bus, SNAPSHOTTER_SERVICE);
  }

  async stat(key: string): Promise<Info> {
    return (await this.c.call('Stat', { snapshotter: this.snapshotter, key }, this.opts())).info;
  }
  async update(info: InfoUpdate, fieldpaths?: string[]): Promise<Info> {
    return (await this.c.call('Update', { snapshotter: this.snapshotter, info, update_mask: fieldpaths }, this.opts())).info;
  }
  async usage(key: string): Promise<Usage> {
    const u = await this.c.call('Usage', { snapshotter: this.snapshotter, key }, this.opts());
    return { size: u.size, inodes: u.inodes };
  }
  async mounts(key: string): Promise<Mount[]> {
    return (await this.c.call('Mounts', { snapshotter: this.snapshotter, key }, this.opts())).mounts;
  }
  async prepare(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]> {
    return (await this.c.call('Prepare', { snapshotter: this.snapshotter, key, parent, labels }, this.opts())).mounts;
  }
  async view(key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]> {
    return (await this.c.call('View', { snapshotter: this.snapshotter, key, parent, labels }, this.opts())).mounts;
  }
  async commit(name: string, key: string, labels?: Record<string, string>): Promise<void> {
    await this.c.call('Commit', { snapshotter: this.snapshotter, name, key, labels }, this.opts());
  }
  async remove(key: string): Promise<void> {
    await this.c.call('Remove', { snapshotter: this.snapshotter, key }, this.opts());
  }
  async walk(fn: (info: Info) => void | Promise<void>, filters?: string[]): Promise<void> {
    const o = this.opts();
    const req: ListRequest = { snapshotter: this.snapshotter, filters };
    const stream = this.bus.openStream<never, ListBatch>(SNAPSHOTTER_SERVICE, LIST_METHOD, req, {
      ...o,
      timeoutMs: o.timeoutMs ?? this.bus.requestTimeoutMs,
    });
    try {
      for await (const batch of stream) for (const info of batch.info) await fn(info);
    } catch (err) {
      stream.cancel();
      throw err;
    }
  }
  async cleanup(): Promise<void> {
    await this.c.call('Cleanup', { snapshotter: this.snapshotter }, this.opts());
  }
}
