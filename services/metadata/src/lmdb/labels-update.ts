/** containerd's field-mask label updates, shared by every record kind. */
import { invalidArgument, validateLabels } from '@flotilla/api';

/**
 * Applies an update of `incoming` labels onto `current` under `paths`: `labels` replaces all,
 * `labels.<key>` sets (or, with an empty or absent value, removes) one key, no paths replaces all.
 * Any other path is InvalidArgument naming `what`.
 */
export function updateLabels(
  current: Record<string, string>,
  incoming: Record<string, string> | undefined,
  paths: string[] | undefined,
  what: string,
): Record<string, string> {
  const src = incoming ?? {};
  validateLabels(src);
  if (!paths || paths.length === 0) return dropEmpty(src);
  let next = { ...current };
  for (const p of paths) {
    if (p === 'labels') next = dropEmpty(src);
    else if (p.startsWith('labels.')) {
      const k = p.slice('labels.'.length);
      if (src[k]) next[k] = src[k];
      else delete next[k];
    } else throw invalidArgument(`cannot update ${JSON.stringify(p)} field on ${what}`);
  }
  validateLabels(next);
  return next;
}

function dropEmpty(labels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ''));
}
