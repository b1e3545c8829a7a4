/** Reading, merging and validating the Flotilla config. */
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'smol-toml';
import { DEFAULT_CONFIG_PATH, defaultConfig } from './defaults.js';
import { ConfigError, INVALID_ARGUMENT, NOT_FOUND, PERMISSION_DENIED } from './errors.js';
import { applyLayer } from './merge.js';
import { checkCrossFields } from './schema.js';
import type { DeepPartial, FlotillaConfig } from './types.js';

/** Options of `loadConfig`. */
export interface LoadOptions {
  /** Config file to read; it must exist. Omitted or `""`: `defaultFile` is read if it exists. */
  file?: string;
  /** Values applied after the file (CLI flags); `undefined` entries are ignored. */
  overrides?: DeepPartial<FlotillaConfig>;
  /** Fallback path when `file` is not given; defaults to `DEFAULT_CONFIG_PATH` (tests point it elsewhere). */
  defaultFile?: string;
}

/** Result of `loadConfig`. */
export interface LoadResult {
  /** The effective, fully populated and validated config. */
  config: FlotillaConfig;
  /** Human-readable notes, e.g. `unknown config key "grpc.adress" ignored`. */
  warnings: string[];
  /** The file that was read, or `undefined` when only defaults and overrides were used. */
  file: string | undefined;
}

/** Reads and parses one TOML file; throws `ConfigError` (NotFound, PermissionDenied, InvalidArgument). */
function readToml(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT') throw new ConfigError(NOT_FOUND, `config file ${JSON.stringify(path)} not found`, { cause: err });
    const code = errno === 'EACCES' || errno === 'EPERM' ? PERMISSION_DENIED : INVALID_ARGUMENT;
    throw new ConfigError(code, `cannot read config file ${JSON.stringify(path)}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return parse(text);
  } catch (err) {
    throw new ConfigError(INVALID_ARGUMENT, `invalid config: cannot parse ${JSON.stringify(path)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/**
 * Builds the effective config: `defaultConfig()`, then the TOML file, then `overrides` (CLI flags
 * win, as in containerd). An explicit `file` must exist; without one, `DEFAULT_CONFIG_PATH` is
 * read only if present. A file without `version` is read as version 2.
 *
 * Unknown keys (top level and inside known sections) are reported in `warnings` with their dotted
 * path; tables of unknown plugins (e.g. `plugins."io.containerd.grpc.v1.cri"`) are kept silently.
 * Invalid values throw a `ConfigError` with `code = 3` whose message names the key.
 */
export function loadConfig(opts: LoadOptions = {}): LoadResult {
  const warnings: string[] = [];
  const config = defaultConfig();
  let file: string | undefined;
  if (opts.file) {
    file = opts.file;
  } else {
    const fallback = opts.defaultFile ?? DEFAULT_CONFIG_PATH;
    if (existsSync(fallback)) file = fallback;
  }
  if (file !== undefined) applyLayer(config, readToml(file), warnings);
  if (opts.overrides) applyLayer(config, opts.overrides as Record<string, unknown>, warnings);
  checkCrossFields(config);
  return { config, warnings, file };
}
