/** Pieces every metadata handler uses: typed handler maps, argument checks, events. */
import { failedPrecondition, invalidArgument, validateIdentifier } from '@flotilla/api';
import type { Bus, CallContext, UnaryHandler } from '@flotilla/bus';
import type { MetadataContract } from '../types.js';

/** Handlers for a subset of the metadata contract's methods. */
export type HandlersOf<K extends keyof MetadataContract> = {
  [M in K]: UnaryHandler<MetadataContract[M]['req'], MetadataContract[M]['res']>;
};

/** `v` as a string, or InvalidArgument naming `field`. */
export function requireString(v: unknown, field: string): string {
  if (typeof v !== 'string') throw invalidArgument(`${field} must be a string`);
  return v;
}

/** A string→string map (or empty), or InvalidArgument naming `field`. */
export function optionalLabels(v: unknown, field = 'labels'): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalidArgument(`${field} must be a map`);
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'string') throw invalidArgument(`${field}.${k} must be a string`);
  return v as Record<string, string>;
}

/** A list of strings (or empty), or InvalidArgument naming `field`. */
export function optionalStrings(v: unknown, field: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw invalidArgument(`${field} must be a list of strings`);
  return v as string[];
}

/** The caller's namespace, required for namespaced objects (FailedPrecondition like containerd). */
export function callerNamespace(ctx: CallContext): string {
  if (!ctx.namespace) throw failedPrecondition('namespace is required');
  validateIdentifier(ctx.namespace);
  return ctx.namespace;
}

/** Publishes a containerd event with a payload of type `containerd.events.<type>`. */
export function publisher(bus: Bus) {
  return (topic: string, ns: string, type: string, value: Record<string, unknown>) =>
    bus.publishEvent(topic, ns, { type_url: `containerd.events.${type}`, value });
}
