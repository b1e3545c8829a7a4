/**
 * Protobuf encoding of plain objects with protobufjs, byte for byte as Go's proto3 marshallers
 * write them: fields in field-number order (protobufjs sorts them) and proto3 scalar fields at their
 * default value left out. protobufjs on its own writes every field that is set on the object, so an
 * object decoded with `defaults: true` and encoded again would grow `0a 00`-style entries Go never
 * sends; {@link encodeMessage} strips them first. Message-typed fields that are present are kept
 * even when empty, as Go keeps a non-nil empty sub-message.
 */
import protobuf from 'protobufjs';
import { DECODE_OPTIONS } from '@flotilla/protos';

type Message = Record<string, unknown>;

function isDefaultScalar(field: protobuf.Field, v: unknown): boolean {
  if (field.resolvedType instanceof protobuf.Enum) return v === 0;
  switch (typeof v) {
    case 'string':
      return v === '';
    case 'number':
      return v === 0 && !Object.is(v, -0);
    case 'boolean':
      return v === false;
    case 'object':
      if (v instanceof Uint8Array) return v.length === 0;
      if (v && typeof (v as { isZero?: unknown }).isZero === 'function') return (v as { isZero(): boolean }).isZero();
      return false;
    default:
      return false;
  }
}

/** Removes proto3 default scalars from a protobufjs message instance, recursively. */
function canonicalize(type: protobuf.Type, msg: Message): void {
  for (const field of type.fieldsArray) {
    const name = field.name;
    if (!Object.prototype.hasOwnProperty.call(msg, name)) continue;
    const v = msg[name];
    if (v == null) continue;
    if (field.map || field.repeated) {
      if (field.resolvedType instanceof protobuf.Type) {
        for (const item of Object.values(v as Record<string, Message>)) canonicalize(field.resolvedType, item);
      }
      continue;
    }
    // A present sub-message is written even when empty, as Go writes a non-nil one.
    if (field.resolvedType instanceof protobuf.Type) {
      canonicalize(field.resolvedType, v as Message);
      continue;
    }
    // Oneof members, proto3 `optional` and proto2 fields track presence: keep what is set.
    if (!field.hasPresence && isDefaultScalar(field, v)) delete msg[name];
  }
}

/**
 * Encodes a plain object (snake_case keys when the root was loaded with `keepCase`) as message
 * `type`. Unknown keys are ignored; longs may be numbers, strings or Longs; bytes Buffers.
 */
export function encodeMessage(type: protobuf.Type, obj: object | null | undefined): Buffer {
  const msg = type.fromObject((obj ?? {}) as Message) as unknown as Message;
  canonicalize(type, msg);
  const bytes = type.encode(msg).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Decodes `bytes` as message `type` into a plain object with the project's conversion options
 * (`DECODE_OPTIONS`: longs as strings, enums as numbers, bytes as Buffers, defaults filled in).
 * Throws protobufjs' error on malformed input.
 */
export function decodeMessage<T = Record<string, unknown>>(type: protobuf.Type, bytes: Uint8Array): T {
  return type.toObject(type.decode(strictReader(bytes)), DECODE_OPTIONS) as T;
}

/**
 * protobufjs' Buffer reader clamps a string whose declared length runs past the end of the input
 * instead of failing (Go reports `unexpected EOF`); this one checks, and otherwise behaves the
 * same (bytes fields come out as Buffers).
 */
class StrictBufferReader extends protobuf.BufferReader {
  override string(): string {
    const len = this.uint32();
    if (this.pos + len > this.len) throw new RangeError(`index out of range: ${this.pos} + ${len} > ${this.len}`);
    const start = this.pos;
    this.pos += len;
    return (this.buf as Buffer).toString('utf8', start, this.pos);
  }
}

/** A reader over `bytes` that rejects truncated input. */
export function strictReader(bytes: Uint8Array): protobuf.Reader {
  return new StrictBufferReader(Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}
