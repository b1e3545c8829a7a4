/** After a sweep: delete backend objects that no namespace references any more. */
import { Code, codeOf } from '@flotilla/api';
import type { Bus } from '@flotilla/bus';
import type { Logger } from '@flotilla/log';
import type { MetadataEnv } from '../lmdb/environment.js';
import { clearDirty, type GcResult } from './collector.js';

/**
 * Deletes the blobs (content service) and snapshots (snapshotter service) whose records are gone,
 * children before parents; a mark is cleared only once its object is gone, so a failure is retried
 * by the next collection.
 */
export async function cleanupBackends(bus: Bus, env: MetadataEnv, r: GcResult, log: Logger): Promise<void> {
  for (const digest of r.dirtyContent) {
    try {
      await bus.call('content', 'Delete', { digest });
      await clearDirty(env, ['dirty-content', digest]);
    } catch (err) {
      if (codeOf(err) === Code.NotFound) await clearDirty(env, ['dirty-content', digest]);
      else log.warn({ err, digest }, 'backend content delete failed; the next collection retries');
    }
  }
  // A snapshot cannot be removed before its children: retry those until no progress is made.
  let pending = r.dirtySnapshots;
  while (pending.length > 0) {
    const failed: typeof pending = [];
    for (const s of pending) {
      try {
        await bus.call('snapshotter', 'Remove', { snapshotter: s.snapshotter, key: s.backendKey });
        await clearDirty(env, ['dirty-snapshot', s.snapshotter, s.backendKey]);
      } catch (err) {
        const code = codeOf(err);
        if (code === Code.FailedPrecondition) failed.push(s);
        else if (code === Code.NotFound) await clearDirty(env, ['dirty-snapshot', s.snapshotter, s.backendKey]);
        else log.warn({ err, key: s.backendKey }, 'backend snapshot remove failed; the next collection retries');
      }
    }
    if (failed.length === pending.length) {
      log.warn({ count: failed.length }, 'backend snapshots still have children; left for a later collection');
      break;
    }
    pending = failed;
  }
}
