import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { HEALTH_PROTO } from "./files.js";
import { HEALTH_PROTO_SOURCE } from "./health.js";
import { protosDir } from "./paths.js";

/** Protos authored in code (path relative to an include dir → source text). */
export const VIRTUAL_PROTOS: Readonly<Record<string, string>> = {
  [HEALTH_PROTO]: HEALTH_PROTO_SOURCE,
};

let virtualDir: string | undefined;

/**
 * Writes `VIRTUAL_PROTOS` into a content-addressed directory under the OS temp
 * dir (once per process; reused across processes) and returns its path.
 */
export function virtualProtosDir(): string {
  if (virtualDir) return virtualDir;
  const hash = createHash("sha256");
  for (const [rel, text] of Object.entries(VIRTUAL_PROTOS)) hash.update(`${rel}\0${text}\0`);
  const dir = join(tmpdir(), `flotilla-protos-${hash.digest("hex").slice(0, 16)}`);
  for (const [rel, text] of Object.entries(VIRTUAL_PROTOS)) {
    const file = join(dir, rel);
    if (existsSync(file) && readFileSync(file, "utf8") === text) continue;
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  }
  virtualDir = dir;
  return dir;
}

/** Include directories for proto loading: `.protos` first, then the virtual protos. */
export function includeDirs(): string[] {
  return [protosDir(), virtualProtosDir()];
}
