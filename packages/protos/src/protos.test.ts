import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  ALL_PROTOS,
  CRI_PROTO,
  EVENT_TYPES_PROTOS,
  HEALTH_PROTO,
  NAMESPACES_PROTO,
  ServingStatus,
  decodeAny,
  encodeAny,
  includeDirs,
  loadGrpcPackage,
  loadRoot,
  protosDir,
} from "./index.js";

describe("@flotilla/protos", () => {
  it("finds every listed file in an include dir", () => {
    const dirs = includeDirs();
    assert.equal(dirs[0], protosDir());
    for (const file of ALL_PROTOS) {
      assert.ok(dirs.some((d) => existsSync(join(d, file))), `missing ${file}`);
    }
  });

  it("loads every listed file as a gRPC package", () => {
    const pkg = loadGrpcPackage(ALL_PROTOS);
    const ns = pkg["containerd.services.namespaces.v1.Namespaces"] as Record<string, unknown>;
    for (const m of ["Get", "List", "Create", "Update", "Delete"]) assert.ok(ns[m], `Namespaces.${m}`);
    const cri = pkg["runtime.v1.RuntimeService"] as Record<string, unknown>;
    assert.ok(cri["RunPodSandbox"]);
    for (const svc of [
      "containerd.services.version.v1.Version",
      "containerd.services.introspection.v1.Introspection",
      "containerd.services.events.v1.Events",
      "containerd.services.events.ttrpc.v1.Events",
      "containerd.services.containers.v1.Containers",
      "containerd.services.content.v1.Content",
      "containerd.services.diff.v1.Diff",
      "containerd.services.images.v1.Images",
      "containerd.services.leases.v1.Leases",
      "containerd.services.snapshots.v1.Snapshots",
      "containerd.services.tasks.v1.Tasks",
      "containerd.task.v2.Task",
      "runtime.v1.ImageService",
      "containerd.runc.v1.Options",
      "containerd.events.TaskExit",
    ]) {
      assert.ok(pkg[svc], svc);
    }
  });

  it("loads a single file on its own", () => {
    const pkg = loadGrpcPackage([NAMESPACES_PROTO]);
    assert.ok(pkg["containerd.services.namespaces.v1.Namespaces"]);
    assert.ok(loadGrpcPackage([CRI_PROTO])["runtime.v1.RuntimeService"]);
  });

  it("loads the health proto", () => {
    const pkg = loadGrpcPackage([HEALTH_PROTO]);
    const health = pkg["grpc.health.v1.Health"] as Record<string, { responseStream: boolean }>;
    assert.equal(health["Check"]?.responseStream, false);
    assert.equal(health["Watch"]?.responseStream, true);
    const root = loadRoot([HEALTH_PROTO]);
    const any = encodeAny(root, "grpc.health.v1.HealthCheckResponse", { status: "SERVING" });
    assert.deepEqual(decodeAny(root, any), { status: ServingStatus.SERVING });
  });

  it("round-trips an Any of containerd.events.NamespaceCreate", () => {
    const root = loadRoot(ALL_PROTOS);
    const any = encodeAny(root, "containerd.events.NamespaceCreate", { name: "a", labels: { k: "v" } });
    assert.equal(any.type_url, "containerd.events.NamespaceCreate");
    assert.ok(Buffer.isBuffer(any.value) && any.value.length > 0);
    assert.deepEqual(decodeAny(root, any), { name: "a", labels: { k: "v" } });
    assert.deepEqual(
      decodeAny(root, { type_url: "type.googleapis.com/containerd.events.NamespaceCreate", value: any.value }),
      { name: "a", labels: { k: "v" } },
    );
  });

  it("round-trips a TaskExit with snake_case fields and a Timestamp", () => {
    const root = loadRoot(EVENT_TYPES_PROTOS);
    const exit = {
      container_id: "c1",
      id: "c1",
      pid: 42,
      exit_status: 137,
      exited_at: { seconds: "1700000000", nanos: 5 },
    };
    const decoded = decodeAny(root, encodeAny(root, "containerd.events.TaskExit", exit));
    assert.deepEqual(decoded, exit);
  });

  it("returns undefined for unknown Any types", () => {
    const root = loadRoot(EVENT_TYPES_PROTOS);
    assert.equal(decodeAny(root, { type_url: "containerd.events.Nope", value: Buffer.alloc(0) }), undefined);
    assert.equal(decodeAny(root, { type_url: "containerd.events", value: Buffer.alloc(0) }), undefined);
    assert.equal(decodeAny(root, { type_url: "", value: Buffer.alloc(0) }), undefined);
    assert.throws(() => encodeAny(root, "containerd.events.Nope", {}));
  });
});
