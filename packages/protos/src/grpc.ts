import { createRequire } from "node:module";
import type { Options, PackageDefinition } from "@grpc/proto-loader";
import { includeDirs } from "./include.js";

/**
 * `@grpc/proto-loader`, loaded on first use: processes that only need `loadRoot` (shims, whose
 * start-up every task create waits for) never load it.
 */
let protoLoader: typeof import("@grpc/proto-loader") | undefined;
function loader(): typeof import("@grpc/proto-loader") {
  protoLoader ??= createRequire(import.meta.url)("@grpc/proto-loader") as typeof import("@grpc/proto-loader");
  return protoLoader;
}

/**
 * Default `@grpc/proto-loader` options used by `loadGrpcPackage`.
 *
 * - `keepCase`: field names stay snake_case as in the .proto files.
 * - `longs: String`: 64-bit ints are decoded as decimal strings (no Long objects).
 * - `enums: Number`: enums are decoded as numbers, so servers compare against
 *   numeric constants and never need enum-name tables. (On encode, protobufjs
 *   accepts either the number or the name.)
 * - `bytes: Buffer`, `defaults: true`, `oneofs: true` (adds a virtual field
 *   naming the set member of each oneof).
 */
export const GRPC_LOADER_OPTIONS: Readonly<Options> = {
  keepCase: true,
  longs: String,
  enums: Number,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
};

/**
 * Loads proto files (paths from `files.ts`, relative to the `.protos` tree) into a
 * gRPC package definition, usable with `@grpc/grpc-js` `loadPackageDefinition`.
 * Keys are fully qualified names, e.g. `containerd.services.namespaces.v1.Namespaces`.
 *
 * protobufjs accepts containerd's `import weak "gogoproto/gogo.proto"` lines and
 * `(gogoproto.*)` options as is (custom options are kept as uninterpreted data),
 * so no preprocessing is done here.
 */
export function loadGrpcPackage(
  files: readonly string[],
  options: Partial<Options> = {},
): PackageDefinition {
  return loader().loadSync([...files], { ...GRPC_LOADER_OPTIONS, ...options, includeDirs: includeDirs() });
}
