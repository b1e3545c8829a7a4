/** Helpers that spell config keys and values in messages and TOML output. */

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/** A TOML basic string literal for `s` (JSON escapes are a subset of TOML's). */
export function tomlString(s: string): string {
  return JSON.stringify(s);
}

/** One key segment as TOML writes it: bare when possible, else quoted ("io.containerd.gc.v1.scheduler"). */
export function tomlKey(segment: string): string {
  return BARE_KEY.test(segment) ? segment : tomlString(segment);
}

/** A dotted key path in TOML syntax, e.g. `plugins."io.containerd.gc.v1.scheduler".startup_delay`. */
export function keyPath(parent: string, segment: string): string {
  return parent ? `${parent}.${tomlKey(segment)}` : tomlKey(segment);
}

/** A short rendering of an offending value for error messages. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) {
    const text = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
    return text.length > 60 ? `an array of ${value.length} items` : text;
  }
  if (typeof value === 'object') return 'a table';
  return typeof value;
}

/** True for a plain table value (a parsed TOML table or an object literal), false for arrays and dates. */
export function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}
