/** Subject names of the bus contract. Ids and namespaces never become subject tokens. */
import { invalidArgument } from '@flotilla/api';

/** Prefix of every Flotilla subject. */
export const ROOT = 'flotilla';
/** Subject every process answers with its plugins (no queue group). */
export const INTROSPECT_SUBJECT = 'flotilla.introspect';
/** Prefix of event subjects. */
export const EVENTS_PREFIX = 'flotilla.events';

const TOKEN_RE = /^[A-Za-z0-9_-]+$/;

/** `flotilla.<service>.v1.<Method>`; `Method` may hold dots (e.g. `Namespaces.Create`). */
export function methodSubject(service: string, method: string): string {
  return `${ROOT}.${service}.v1.${method}`;
}

/** Wildcard matching every method of a service. */
export function serviceWildcard(service: string): string {
  return `${ROOT}.${service}.v1.>`;
}

/** `flotilla.health.<service>`. */
export function healthSubject(service: string): string {
  return `${ROOT}.health.${service}`;
}

/**
 * Validates a containerd event topic (`/a/b`, components of letters, digits, `_` or `-`) and
 * returns its subject (`flotilla.events.a.b`).
 */
export function eventSubject(topic: string): string {
  if (typeof topic !== 'string' || !topic.startsWith('/')) throw invalidArgument(`must start with '/': topic ${JSON.stringify(topic)}`);
  const parts = topic.slice(1).split('/');
  if (parts.length === 0 || parts.some((p) => !TOKEN_RE.test(p))) {
    throw invalidArgument(`invalid topic ${JSON.stringify(topic)}`);
  }
  return `${EVENTS_PREFIX}.${parts.join('.')}`;
}

/** The topic of an event subject (inverse of eventSubject). */
export function topicOfSubject(subject: string): string {
  return '/' + subject.slice(EVENTS_PREFIX.length + 1).split('.').join('/');
}
