/** What each process reports about itself on `flotilla.introspect` (ARCHITECTURE §2). */

/** A plugin's status, as containerd's `ctr plugins ls` shows it. */
export type PluginStatus = 'ok' | 'skip' | 'error';

/** One plugin of one process. */
export interface PluginInfo {
  /** containerd plugin type, e.g. `io.containerd.metadata.v1`. */
  type: string;
  /** plugin id, e.g. `lmdb`. */
  id: string;
  /** `type.*` patterns or `type` names this plugin needs. */
  requires: string[];
  status: PluginStatus;
  /** Why the plugin is skipped or failed, when it is. */
  reason?: string;
  /** Platforms, e.g. `linux/amd64`; empty for most plugins. */
  platforms?: string[];
  /** Free-form exports (e.g. the root directory). */
  exports?: Record<string, string>;
  capabilities?: string[];
}

/** The reply of one process to `flotilla.introspect`. */
export interface ProcessInfo {
  service: string;
  pid: number;
  version: string;
  /** Milliseconds since the epoch when the process started. */
  startedAt: number;
  plugins: PluginInfo[];
}

/** The reply to `flotilla.health.<service>`. */
export interface HealthInfo {
  service: string;
  pid: number;
  status: 'serving' | 'not_serving';
  /** Calls currently being handled. */
  inflight: number;
}

/** Flotilla's version, reported by Version and introspection. */
export const FLOTILLA_VERSION = '0.1.0';
/** Revision string reported by Version. */
export const FLOTILLA_REVISION = 'flotilla';
