import { existsSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import protobuf from "protobufjs";
import { includeDirs } from "./include.js";

/** A `google.protobuf.Any` as containerd sends it: bare type name, raw bytes. */
export interface AnyValue {
  type_url: string;
  value: Buffer;
}

/** Options used by `decodeAny` to turn messages into plain objects (mirrors the gRPC loader). */
export const DECODE_OPTIONS: protobuf.IConversionOptions = {
  longs: String,
  enums: Number,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
};

/**
 * Loads proto files (relative to the `.protos` tree) into a resolved protobufjs
 * `Root`, keeping snake_case field names (`keepCase`), for encoding/decoding
 * arbitrary messages such as event payloads.
 */
export function loadRoot(files: readonly string[]): protobuf.Root {
  const dirs = includeDirs();
  const root = new protobuf.Root();
  const fallback = root.resolvePath;
  root.resolvePath = (origin, target) => {
    if (isAbsolute(target)) return target;
    for (const dir of dirs) {
      const candidate = join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return fallback(origin, target);
  };
  root.loadSync([...files], { keepCase: true });
  root.resolveAll();
  return root;
}

/**
 * Encodes `obj` as message `typeName` (fully qualified, no leading dot) into an
 * `Any` whose `type_url` is the bare type name, as containerd does
 * (e.g. `containerd.events.TaskExit`). Throws if the type is unknown.
 */
export function encodeAny(root: protobuf.Root, typeName: string, obj: object): AnyValue {
  const type = root.lookupType(typeName);
  const bytes = type.encode(type.fromObject(obj as Record<string, unknown>)).finish();
  return { type_url: typeName, value: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
}

/**
 * Decodes an `Any` into a plain object (see `DECODE_OPTIONS`). Accepts bare type
 * names and `type.googleapis.com/`-style URLs (everything up to the last `/` is
 * ignored). Returns `undefined` if the type is not known to `root`.
 */
export function decodeAny(
  root: protobuf.Root,
  any: { type_url?: string; typeUrl?: string; value?: Uint8Array | null },
): Record<string, unknown> | undefined {
  const url = any.type_url ?? any.typeUrl ?? "";
  const name = url.slice(url.lastIndexOf("/") + 1);
  if (!name) return undefined;
  const found = root.lookup(name);
  if (!(found instanceof protobuf.Type)) return undefined;
  return found.toObject(found.decode(any.value ?? new Uint8Array()), DECODE_OPTIONS);
}
