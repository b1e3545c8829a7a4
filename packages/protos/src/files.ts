/**
 * Proto file paths, relative to the `.protos` include tree (see `protosDir()`).
 * These are the same paths the protos use in their own `import` statements.
 */

const API = "github.com/containerd/containerd/api";
const SERVICES = `${API}/services`;

/** containerd.services.version.v1.Version */
export const VERSION_PROTO = `${SERVICES}/version/v1/version.proto`;
/** containerd.services.namespaces.v1.Namespaces */
export const NAMESPACES_PROTO = `${SERVICES}/namespaces/v1/namespace.proto`;
/** containerd.services.introspection.v1.Introspection */
export const INTROSPECTION_PROTO = `${SERVICES}/introspection/v1/introspection.proto`;
/** containerd.services.events.v1.Events (gRPC: Publish/Forward/Subscribe) */
export const EVENTS_PROTO = `${SERVICES}/events/v1/events.proto`;
/** containerd.services.events.ttrpc.v1.Events (ttrpc Forward, used by shims) */
export const TTRPC_EVENTS_PROTO = `${SERVICES}/ttrpc/events/v1/events.proto`;
/** containerd.services.containers.v1.Containers */
export const CONTAINERS_PROTO = `${SERVICES}/containers/v1/containers.proto`;
/** containerd.services.content.v1.Content */
export const CONTENT_PROTO = `${SERVICES}/content/v1/content.proto`;
/** containerd.services.diff.v1.Diff */
export const DIFF_PROTO = `${SERVICES}/diff/v1/diff.proto`;
/** containerd.services.images.v1.Images */
export const IMAGES_PROTO = `${SERVICES}/images/v1/images.proto`;
/** containerd.services.leases.v1.Leases */
export const LEASES_PROTO = `${SERVICES}/leases/v1/leases.proto`;
/** containerd.services.snapshots.v1.Snapshots */
export const SNAPSHOTS_PROTO = `${SERVICES}/snapshots/v1/snapshots.proto`;
/** containerd.services.tasks.v1.Tasks */
export const TASKS_PROTO = `${SERVICES}/tasks/v1/tasks.proto`;

/** Event payload types in package `containerd.events` (TaskExit, NamespaceCreate, ...). */
export const EVENT_TYPES_PROTOS: readonly string[] = [
  `${API}/events/container.proto`,
  `${API}/events/content.proto`,
  `${API}/events/image.proto`,
  `${API}/events/namespace.proto`,
  `${API}/events/snapshot.proto`,
  `${API}/events/task.proto`,
];

/** containerd.task.v2.Task — the runtime v2 shim API (ttrpc). */
export const SHIM_PROTO = "github.com/containerd/containerd/runtime/v2/task/shim.proto";
/** containerd.runc.v1.Options — runc shim options carried in `Any`. */
export const RUNC_OPTIONS_PROTO = "github.com/containerd/containerd/runtime/v2/runc/options/oci.proto";
/** Kubernetes CRI v1: runtime.v1.RuntimeService and runtime.v1.ImageService. */
export const CRI_PROTO = "k8s.io/cri-api/pkg/apis/runtime/v1/api.proto";
/**
 * grpc.health.v1.Health. Not shipped by Debian: authored in `health.ts` and
 * materialised into a private include dir by the loaders (see `includeDirs()`).
 */
export const HEALTH_PROTO = "grpc/health/v1/health.proto";

/** The containerd gRPC service protos served by the Flotilla gateway. */
export const CONTAINERD_SERVICE_PROTOS: readonly string[] = [
  VERSION_PROTO,
  NAMESPACES_PROTO,
  INTROSPECTION_PROTO,
  EVENTS_PROTO,
  CONTAINERS_PROTO,
  CONTENT_PROTO,
  DIFF_PROTO,
  IMAGES_PROTO,
  LEASES_PROTO,
  SNAPSHOTS_PROTO,
  TASKS_PROTO,
];

/** Every proto file listed above. */
export const ALL_PROTOS: readonly string[] = [
  ...CONTAINERD_SERVICE_PROTOS,
  TTRPC_EVENTS_PROTO,
  ...EVENT_TYPES_PROTOS,
  SHIM_PROTO,
  RUNC_OPTIONS_PROTO,
  CRI_PROTO,
  HEALTH_PROTO,
];
