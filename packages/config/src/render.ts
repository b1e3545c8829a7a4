/** Writing configs back out as TOML. */
import { stringify } from 'smol-toml';
import { defaultConfig } from './defaults.js';
import { isTable, keyPath, tomlKey, tomlString } from './keys.js';
import { PLUGIN_NOTES, SECTION_NOTES, TOP_NOTES, type SectionNotes } from './notes.js';
import type { FlotillaConfig } from './types.js';

/** One value in TOML syntax: a scalar, an array, or a table written as an inline table. */
function tomlValue(v: unknown): string {
  if (typeof v === 'string') return tomlString(v);
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'nan';
    if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
    return String(v);
  }
  if (Array.isArray(v)) return `[${v.map(tomlValue).join(', ')}]`;
  if (isTable(v)) {
    const entries = Object.entries(v).filter(([, x]) => x !== undefined);
    if (!entries.length) return '{}';
    return `{ ${entries.map(([k, x]) => `${tomlKey(k)} = ${tomlValue(x)}`).join(', ')} }`;
  }
  throw new TypeError(`cannot write ${typeof v} as a TOML value`);
}

/** Collects output lines, optionally with comments. */
class Writer {
  readonly lines: string[] = [];
  constructor(private readonly comments: boolean) {}

  note(text: string, indent = ''): void {
    if (this.comments) for (const line of text.split('\n')) this.lines.push(`${indent}# ${line}`);
  }

  key(key: string, value: unknown, note: string, indent = ''): void {
    this.note(note, indent);
    this.lines.push(`${indent}${tomlKey(key)} = ${tomlValue(value)}`);
    if (this.comments) this.lines.push('');
  }

  table(path: string, data: Record<string, unknown>, notes: SectionNotes<Record<string, unknown>>): void {
    if (this.lines.length && this.lines[this.lines.length - 1] !== '') this.lines.push('');
    this.note(notes.about);
    this.lines.push(`[${path}]`);
    for (const [k, text] of Object.entries(notes.keys)) this.key(k, data[k], text, '  ');
  }
}

function render(cfg: FlotillaConfig, comments: boolean): string {
  const w = new Writer(comments);
  const top = cfg as unknown as Record<string, unknown>;
  if (comments) {
    w.note('Flotilla configuration, in containerd\'s config format (version = 2).');
    w.note('Every key is shown with its default value; remove a key to keep its default.');
    w.note('Command-line flags override the values in this file.');
    w.lines.push('');
  }
  for (const [k, text] of Object.entries(TOP_NOTES)) w.key(k, top[k], text);
  for (const [name, notes] of Object.entries(SECTION_NOTES)) {
    w.table(tomlKey(name), top[name] as Record<string, unknown>, notes as SectionNotes<Record<string, unknown>>);
  }
  for (const [id, notes] of Object.entries(PLUGIN_NOTES)) {
    w.table(keyPath('plugins', id), cfg.plugins[id]!, notes as SectionNotes<Record<string, unknown>>);
  }
  const others = Object.entries(cfg.plugins).filter(([id]) => !Object.hasOwn(PLUGIN_NOTES, id));
  if (comments) {
    if (w.lines[w.lines.length - 1] !== '') w.lines.push('');
    w.note('Sections of other plugins are passed through to them unchanged, e.g.:');
    w.note('[plugins."io.containerd.grpc.v1.cri"]');
    w.note('  sandbox_image = "registry.k8s.io/pause:3.10"');
  }
  let text = w.lines.join('\n').trimEnd() + '\n';
  if (others.length) text += '\n' + stringify({ plugins: Object.fromEntries(others) }).trim() + '\n';
  return text;
}

/**
 * The default config as a complete, commented TOML document (for `config default`).
 * Parsing it yields exactly `defaultConfig()`.
 */
export function renderDefaultToml(): string {
  return render(defaultConfig(), true);
}

/**
 * `cfg` as TOML without comments (for `config dump`), including free-form plugin tables.
 * Parsing the result (or loading it with `loadConfig`) yields an object equal to `cfg`.
 */
export function renderToml(cfg: FlotillaConfig): string {
  return render(cfg, false);
}
