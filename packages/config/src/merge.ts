/** Laying one partial config (a parsed file or CLI overrides) onto a complete one, with validation. */
import { isTable, keyPath } from './keys.js';
import { PLUGIN_SECTIONS, SECTIONS, TOP_LEVEL, invalid, type Check } from './schema.js';
import type { FlotillaConfig } from './types.js';

const has = (obj: object, key: string): boolean => Object.prototype.hasOwnProperty.call(obj, key);

/** Sets an own property without ever touching the prototype (safe for keys like `__proto__`). */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A deep copy of parsed data with plain-object tables; `undefined` entries are dropped. */
export function plainCopy(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((v) => v !== undefined).map(plainCopy);
  if (!isTable(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) define(out, k, plainCopy(v));
  return out;
}

/** Deep-merges `layer` into the free-form table `target`: tables merge, anything else replaces. */
function mergeFree(target: Record<string, unknown>, layer: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(layer)) {
    if (v === undefined) continue;
    const cur = has(target, k) ? target[k] : undefined;
    if (isTable(cur) && isTable(v)) mergeFree(cur, v);
    else define(target, k, plainCopy(v));
  }
}

function requireTable(value: unknown, path: string): Record<string, unknown> {
  return isTable(value) ? value : invalid(path, 'a table', value);
}

/** Validates and copies the keys of one known section; unknown keys become warnings. */
function applySection(
  target: Record<string, unknown>,
  spec: Record<string, Check<unknown>>,
  layer: unknown,
  path: string,
  warnings: string[],
): void {
  for (const [k, v] of Object.entries(requireTable(layer, path))) {
    if (v === undefined) continue;
    const p = keyPath(path, k);
    if (has(spec, k)) target[k] = spec[k]!(v, p);
    else warnings.push(unknownKey(p));
  }
}

/** The warning text for a key Flotilla does not know. */
export function unknownKey(path: string): string {
  return `unknown config key "${path}" ignored`;
}

/**
 * Lays `layer` onto `cfg` in place. Known keys are validated (throwing `ConfigError` code 3 that
 * names the key); unknown keys are appended to `warnings`; tables of unknown plugins are kept.
 */
export function applyLayer(cfg: FlotillaConfig, layer: Record<string, unknown>, warnings: string[]): void {
  const target = cfg as unknown as Record<string, Record<string, unknown>>;
  const top = cfg as unknown as Record<string, unknown>;
  const sections = SECTIONS as unknown as Record<string, Record<string, Check<unknown>>>;
  const plugins = PLUGIN_SECTIONS as unknown as Record<string, Record<string, Check<unknown>>>;
  for (const [key, value] of Object.entries(layer)) {
    if (value === undefined) continue;
    const path = keyPath('', key);
    if (has(TOP_LEVEL, key)) {
      top[key] = (TOP_LEVEL as Record<string, Check<unknown>>)[key]!(value, path);
    } else if (has(sections, key)) {
      applySection(target[key]!, sections[key]!, value, path, warnings);
    } else if (key === 'plugins') {
      for (const [pluginId, table] of Object.entries(requireTable(value, path))) {
        if (table === undefined) continue;
        const p = keyPath(path, pluginId);
        if (has(plugins, pluginId)) {
          applySection(cfg.plugins[pluginId]!, plugins[pluginId]!, table, p, warnings);
        } else {
          const cur = has(cfg.plugins, pluginId) ? cfg.plugins[pluginId] : undefined;
          const copy = cur ?? {};
          mergeFree(copy, requireTable(table, p));
          define(cfg.plugins, pluginId, copy);
        }
      }
    } else {
      warnings.push(unknownKey(path));
    }
  }
}
