/**
 * containerd's filter language (`ctr events`, `Events.Subscribe`, and List filters of images,
 * containers and content), as a pure library.
 *
 * ```ts
 * const filter = parseFilters(['topic~=|^/tasks/|,namespace==default', 'event.container_id==c1']);
 * filter.match(adaptEnvelope({ namespace: 'default', topic: '/tasks/exit', event }));
 * ```
 *
 * @packageDocumentation
 */

export { parseFilter, parseFilters } from './parser.js';
export { matchEverything, type Adaptor, type FieldValue, type Filter, type Operator } from './filter.js';
export {
  adaptEnvelope,
  adaptObject,
  DEFAULT_MAP_FIELDS,
  type AdaptObjectOptions,
  type EventEnvelope,
} from './adaptors.js';
export { FilterParseError, INVALID_ARGUMENT } from './errors.js';
