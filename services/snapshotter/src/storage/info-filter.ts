/**
 * How containerd's filter language sees a snapshot Info (containerd `snapshots/storage/bolt.go`
 * `adaptSnapshot`): `kind` (`active`/`view`/`committed`), `name` and `parent` — both reported as
 * present even when empty, so `parent==""` selects root snapshots — and `labels.<key>`, present when
 * the key exists (the rest of the path joined with `.` is the key).
 */
import type { Adaptor, FieldValue } from '@flotilla/filters';
import type { Info } from '../types.js';

const ABSENT: FieldValue = { value: '', present: false };

/** The filter adaptor of `info`. */
export function adaptInfo(info: Info): Adaptor {
  return {
    field(path: string[]): FieldValue {
      switch (path[0]) {
        case 'kind':
          return { value: info.kind, present: true };
        case 'name':
          return { value: info.name, present: true };
        case 'parent':
          return { value: info.parent ?? '', present: true };
        case 'labels': {
          const key = path.slice(1).join('.');
          if (!Object.hasOwn(info.labels, key)) return ABSENT;
          return { value: info.labels[key]!, present: true };
        }
        default:
          return ABSENT;
      }
    },
  };
}
