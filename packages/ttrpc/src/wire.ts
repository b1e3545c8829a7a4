/**
 * ttrpc's own protobuf messages (package `ttrpc`, `request.proto`; containerd-facts §1.4), written
 * from the facts — Debian ships no copy — plus the `google.rpc.Status` they carry, loaded from the
 * `.protos` tree.
 */
import protobuf from 'protobufjs';
import { Code, FlotillaError, isCodeNumber } from '@flotilla/api';
import { loadRoot } from '@flotilla/protos';
import { encodeMessage, strictReader } from './codec.js';
import type { KeyValue } from './metadata.js';

/** Path of google.rpc.Status in the `.protos` tree. */
export const STATUS_PROTO = 'google/rpc/status.proto';

/** ttrpc's `request.proto`, as the Go implementation defines it (`ttrpc:request.proto`, `types.go`). */
export const TTRPC_REQUEST_PROTO_SOURCE = `syntax = "proto3";

package ttrpc;

import "google/rpc/status.proto";

message Request {
  string service = 1;
  string method = 2;
  bytes payload = 3;
  int64 timeout_nano = 4;
  repeated KeyValue metadata = 5;
}

message Response {
  google.rpc.Status status = 1;
  bytes payload = 2;
}

message StringList {
  repeated string list = 1;
}

message KeyValue {
  string key = 1;
  string value = 2;
}
`;

/** A decoded `ttrpc.Request`. */
export interface WireRequest {
  service: string;
  method: string;
  /** The serialized request message. */
  payload: Buffer;
  /** Whether the payload field was on the wire (a Go sender omits an empty payload). */
  hasPayload: boolean;
  /** Nanoseconds; 0 = no deadline. May be negative (deadline already passed). */
  timeout_nano: number;
  metadata: KeyValue[];
}

/** A `google.rpc.Status` (details kept as raw Any values). */
export interface WireStatus {
  code: number;
  message: string;
  details?: { type_url: string; value: Buffer }[];
}

/** A decoded `ttrpc.Response`. */
export interface WireResponse {
  /** Absent when the sender did not set it (the client then treats the call as successful). */
  status?: WireStatus;
  payload: Buffer;
}

interface WireTypes {
  request: protobuf.Type;
  response: protobuf.Type;
  keyValue: protobuf.Type;
  status: protobuf.Type;
}

let types: WireTypes | undefined;

/** The protobufjs root holding `ttrpc.*` and `google.rpc.Status` (built once). */
export function wireRoot(): protobuf.Root {
  return wireTypes().request.root as protobuf.Root;
}

function wireTypes(): WireTypes {
  if (!types) {
    const root = loadRoot([STATUS_PROTO]);
    protobuf.parse(TTRPC_REQUEST_PROTO_SOURCE, root, { keepCase: true });
    root.resolveAll();
    types = {
      request: root.lookupType('ttrpc.Request'),
      response: root.lookupType('ttrpc.Response'),
      keyValue: root.lookupType('ttrpc.KeyValue'),
      status: root.lookupType('google.rpc.Status'),
    };
  }
  return types;
}

function toBuffer(b: Uint8Array | number[] | undefined): Buffer {
  if (!b) return Buffer.alloc(0);
  if (Buffer.isBuffer(b)) return b;
  if (b instanceof Uint8Array) return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return Buffer.from(b); // protobufjs' default for an absent bytes field is an empty array
}

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (v == null) return 0;
  return Number(String(v));
}

/** Encodes a `ttrpc.Request` as Go does (default fields omitted). */
export function encodeRequest(req: {
  service: string;
  method: string;
  payload?: Uint8Array;
  timeout_nano?: number;
  metadata?: KeyValue[];
}): Buffer {
  return encodeMessage(wireTypes().request, {
    service: req.service,
    method: req.method,
    payload: req.payload && req.payload.length > 0 ? toBuffer(req.payload) : undefined,
    timeout_nano: req.timeout_nano ? Math.trunc(req.timeout_nano) : undefined,
    metadata: req.metadata ?? [],
  });
}

/** Decodes a `ttrpc.Request`; throws on malformed bytes. */
export function decodeRequest(bytes: Uint8Array): WireRequest {
  const m = wireTypes().request.decode(strictReader(bytes)) as unknown as Record<string, unknown>;
  const own = (k: string) => Object.prototype.hasOwnProperty.call(m, k);
  return {
    service: (m.service as string) ?? '',
    method: (m.method as string) ?? '',
    payload: toBuffer(m.payload as Uint8Array | undefined),
    hasPayload: own('payload'),
    timeout_nano: toNumber(m.timeout_nano),
    metadata: ((m.metadata as { key?: string; value?: string }[]) ?? []).map((kv) => ({ key: kv.key ?? '', value: kv.value ?? '' })),
  };
}

/**
 * Encodes a `ttrpc.Response` as the Go server does: on success the status is left out entirely
 * (grpc-go's `status.FromError(nil)` is a nil status, whose `Proto()` is nil), so an OK reply is
 * just the payload field; a failure carries `status{code, message}`.
 */
export function encodeResponse(res: { status?: WireStatus; payload?: Uint8Array }): Buffer {
  const st = res.status;
  const failed = st !== undefined && (st.code !== 0 || st.message !== '' || (st.details?.length ?? 0) > 0);
  return encodeMessage(wireTypes().response, {
    status: failed ? { code: st.code, message: st.message, details: st.details ?? [] } : undefined,
    payload: res.payload && res.payload.length > 0 ? toBuffer(res.payload) : undefined,
  });
}

/** Decodes a `ttrpc.Response`; throws on malformed bytes. */
export function decodeResponse(bytes: Uint8Array): WireResponse {
  const m = wireTypes().response.decode(strictReader(bytes)) as unknown as Record<string, unknown>;
  const out: WireResponse = { payload: toBuffer(m.payload as Uint8Array | undefined) };
  if (Object.prototype.hasOwnProperty.call(m, 'status') && m.status) {
    const s = m.status as { code?: number; message?: string; details?: { type_url?: string; value?: Uint8Array }[] };
    out.status = {
      code: s.code ?? 0,
      message: s.message ?? '',
      details: (s.details ?? []).map((d) => ({ type_url: d.type_url ?? '', value: toBuffer(d.value) })),
    };
  }
  return out;
}

/**
 * The error for a non-OK status received from a peer: a FlotillaError carrying the gRPC code
 * (unknown numbers become Unknown) and the peer's message unchanged.
 */
export function statusError(status: WireStatus): FlotillaError {
  const code = isCodeNumber(status.code) ? status.code : Code.Unknown;
  const err = new FlotillaError(code, status.message);
  if (status.details && status.details.length > 0) (err as FlotillaError & { details?: unknown }).details = status.details;
  return err;
}
