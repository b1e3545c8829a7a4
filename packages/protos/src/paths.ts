import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Environment variable that overrides where the `.protos` include tree lives. */
export const PROTOS_DIR_ENV = "FLOTILLA_PROTOS_DIR";

function isDir(path: string): boolean {
  return existsSync(path) && statSync(path).isDirectory();
}

/**
 * Absolute path of the `.protos` include tree produced by `scripts/fetch-protos.sh`.
 *
 * Uses `$FLOTILLA_PROTOS_DIR` when set; otherwise walks up from this module's
 * location until a directory containing `.protos` is found (the repo root).
 * Throws if it cannot be found.
 */
export function protosDir(): string {
  const override = process.env[PROTOS_DIR_ENV];
  if (override) {
    const dir = resolve(override);
    if (!isDir(dir)) {
      throw new Error(`${PROTOS_DIR_ENV}=${override} is not a directory; run scripts/setup.sh`);
    }
    return dir;
  }
  const start = dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = dirname(dir)) {
    const candidate = join(dir, ".protos");
    if (isDir(candidate)) return candidate;
    if (dirname(dir) === dir) break;
  }
  throw new Error(`.protos include tree not found above ${start}; run scripts/setup.sh`);
}
