/**
 * The few protobuf messages the short-lived `start` and `delete` invocations read or write,
 * encoded by hand so those paths never load protobufjs and the proto files (they must be fast:
 * containerd waits on them). The long-lived shim uses the real protos (`@flotilla/protos`).
 *
 * - `start` stdin: `google.protobuf.Any{type_url=1, value=2}` wrapping
 *   `containerd.runc.v1.Options` (we need `shim_cgroup=3`).
 * - `delete` stdout: `containerd.task.v2.DeleteResponse{pid=1, exit_status=2,
 *   exited_at=3 Timestamp{seconds=1, nanos=2}}`, written like Go's gogo marshaller (zero scalars
 *   left out, the non-nullable timestamp always present).
 */

/** Seconds of Go's zero `time.Time` (0001-01-01T00:00:00Z) as a protobuf Timestamp. */
export const GO_ZERO_TIME_SECONDS = -62135596800;

/** Protobuf wire types. */
const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

function varint(n: bigint): number[] {
  // int64 negatives are written as their two's complement uint64 (10 bytes).
  let v = BigInt.asUintN(64, n);
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

function tag(field: number, wire: number): number[] {
  return varint(BigInt((field << 3) | wire));
}

function lenField(field: number, bytes: Uint8Array): number[] {
  return [...tag(field, LEN), ...varint(BigInt(bytes.length)), ...bytes];
}

/** A Timestamp message for `date` (Go's zero time when undefined). */
export function encodeTimestamp(date: Date | undefined): Buffer {
  let seconds: bigint;
  let nanos: number;
  if (!date) {
    seconds = BigInt(GO_ZERO_TIME_SECONDS);
    nanos = 0;
  } else {
    const ms = date.getTime();
    seconds = BigInt(Math.floor(ms / 1000));
    nanos = (ms - Math.floor(ms / 1000) * 1000) * 1_000_000;
  }
  const out: number[] = [];
  if (seconds !== 0n) out.push(...tag(1, VARINT), ...varint(seconds));
  if (nanos !== 0) out.push(...tag(2, VARINT), ...varint(BigInt(nanos)));
  return Buffer.from(out);
}

/** `containerd.task.v2.DeleteResponse` bytes. */
export function encodeDeleteResponse(r: { pid: number; exitStatus: number; exitedAt: Date | undefined }): Buffer {
  const out: number[] = [];
  if (r.pid !== 0) out.push(...tag(1, VARINT), ...varint(BigInt(r.pid >>> 0)));
  if (r.exitStatus !== 0) out.push(...tag(2, VARINT), ...varint(BigInt(r.exitStatus >>> 0)));
  out.push(...lenField(3, encodeTimestamp(r.exitedAt)));
  return Buffer.from(out);
}

/** One decoded field: varints as bigint, length-delimited as bytes. */
interface Field {
  field: number;
  value: bigint | Buffer;
}

/** Decodes the top-level fields of a message. Throws on malformed input. */
export function decodeFields(buf: Uint8Array): Field[] {
  const fields: Field[] = [];
  let pos = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error('protobuf: unexpected end of varint');
      const b = buf[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
      if (shift > 63n) throw new Error('protobuf: varint too long');
    }
  };
  while (pos < buf.length) {
    const key = Number(readVarint());
    const field = key >>> 3;
    const wire = key & 7;
    if (field === 0) throw new Error('protobuf: field number 0');
    switch (wire) {
      case VARINT:
        fields.push({ field, value: readVarint() });
        break;
      case I64:
        if (pos + 8 > buf.length) throw new Error('protobuf: truncated fixed64');
        pos += 8;
        break;
      case LEN: {
        const n = Number(readVarint());
        if (pos + n > buf.length) throw new Error('protobuf: truncated bytes');
        fields.push({ field, value: Buffer.from(buf.subarray(pos, pos + n)) });
        pos += n;
        break;
      }
      case I32:
        if (pos + 4 > buf.length) throw new Error('protobuf: truncated fixed32');
        pos += 4;
        break;
      default:
        throw new Error(`protobuf: unsupported wire type ${wire}`);
    }
  }
  return fields;
}

/** A `google.protobuf.Any`. */
export interface RawAny {
  typeUrl: string;
  value: Buffer;
}

/** Decodes a serialized `google.protobuf.Any`. */
export function decodeAny(buf: Uint8Array): RawAny {
  let typeUrl = '';
  let value: Buffer = Buffer.alloc(0);
  for (const f of decodeFields(buf)) {
    if (f.field === 1 && Buffer.isBuffer(f.value)) typeUrl = f.value.toString('utf8');
    else if (f.field === 2 && Buffer.isBuffer(f.value)) value = f.value;
  }
  return { typeUrl, value };
}

/** `shim_cgroup` (field 3) of a serialized `containerd.runc.v1.Options`. */
export function decodeShimCgroup(options: Uint8Array): string {
  let cgroup = '';
  for (const f of decodeFields(options)) if (f.field === 3 && Buffer.isBuffer(f.value)) cgroup = f.value.toString('utf8');
  return cgroup;
}

/** Type URLs naming runc options (bare name as containerd writes it, or a `…/` prefixed one). */
export function isRuncOptionsType(typeUrl: string): boolean {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1) === 'containerd.runc.v1.Options';
}
