/** What the metadata service needs of a snapshotter backend (served by the snapshotter process). */
import type { Bus, CallOptions } from '@flotilla/bus';
import type { Mount, SnapshotInfo } from '../types.js';

/** A backend snapshot: the same shape as a namespaced one, with backend keys. */
export type BackendInfo = SnapshotInfo;

/** The snapshotter service's backend operations. */
export interface SnapshotBackend {
  prepare(snapshotter: string, key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]>;
  view(snapshotter: string, key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]>;
  mounts(snapshotter: string, key: string): Promise<Mount[]>;
  commit(snapshotter: string, name: string, key: string, labels?: Record<string, string>): Promise<void>;
  remove(snapshotter: string, key: string): Promise<void>;
  stat(snapshotter: string, key: string): Promise<BackendInfo>;
  usage(snapshotter: string, key: string): Promise<{ size: number; inodes: number }>;
}

/** SnapshotBackend over the bus (`flotilla.snapshotter.v1.*`). */
export class BusSnapshotBackend implements SnapshotBackend {
  constructor(
    private readonly bus: Bus,
    private readonly opts: () => CallOptions = () => ({}),
  ) {}
  private call<T>(method: string, req: object): Promise<T> {
    return this.bus.call<T>('snapshotter', method, req, this.opts());
  }
  async prepare(snapshotter: string, key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]> {
    return (await this.call<{ mounts: Mount[] }>('Prepare', { snapshotter, key, parent, labels })).mounts;
  }
  async view(snapshotter: string, key: string, parent?: string, labels?: Record<string, string>): Promise<Mount[]> {
    return (await this.call<{ mounts: Mount[] }>('View', { snapshotter, key, parent, labels })).mounts;
  }
  async mounts(snapshotter: string, key: string): Promise<Mount[]> {
    return (await this.call<{ mounts: Mount[] }>('Mounts', { snapshotter, key })).mounts;
  }
  async commit(snapshotter: string, name: string, key: string, labels?: Record<string, string>): Promise<void> {
    await this.call('Commit', { snapshotter, name, key, labels });
  }
  async remove(snapshotter: string, key: string): Promise<void> {
    await this.call('Remove', { snapshotter, key });
  }
  async stat(snapshotter: string, key: string): Promise<BackendInfo> {
    return (await this.call<{ info: BackendInfo }>('Stat', { snapshotter, key })).info;
  }
  async usage(snapshotter: string, key: string): Promise<{ size: number; inodes: number }> {
    return this.call('Usage', { snapshotter, key });
  }
}
