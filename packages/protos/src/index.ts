/**
 * @flotilla/protos — locate and load containerd, CRI and gRPC health protos.
 * Run `scripts/setup.sh` first: it fills the `.protos` include tree.
 */
export * from "./paths.js";
export * from "./files.js";
export * from "./health.js";
export * from "./include.js";
export * from "./grpc.js";
export * from "./root.js";
