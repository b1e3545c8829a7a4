/** The proto types the runtime speaks: the shim task API, runc options, ttrpc events, event payloads. */
import type protobuf from 'protobufjs';
import { EVENT_TYPES_PROTOS, RUNC_OPTIONS_PROTO, SHIM_PROTO, TTRPC_EVENTS_PROTO, loadRoot } from '@flotilla/protos';

/** Loads the runtime's protobufjs root. */
export function runtimeRoot(): protobuf.Root {
  return loadRoot([SHIM_PROTO, RUNC_OPTIONS_PROTO, TTRPC_EVENTS_PROTO, ...EVENT_TYPES_PROTOS]);
}
