/**
 * Task events as the shim publishes them (containerd-facts §4.1): topic + a `containerd.events.*`
 * message, wrapped in an `Any` whose type URL is the bare message name.
 */
import type protobuf from 'protobufjs';
import { encodeMessage } from '@flotilla/ttrpc';
import { GO_ZERO_TIME_SECONDS } from './wire.js';

/** A protobuf Timestamp as protobufjs takes it (seconds may exceed 2^31, so a string). */
export interface Timestamp {
  seconds: string;
  nanos: number;
}

/**
 * `date` as a Timestamp; undefined becomes Go's zero time.Time, which is what the runc shim sends
 * for "not exited" (its timestamps are non-nullable, so they are always on the wire).
 */
export function timestamp(date: Date | undefined): Timestamp {
  if (!date) return { seconds: String(GO_ZERO_TIME_SECONDS), nanos: 0 };
  const ms = date.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** Topics and their payload types (`runtime/runtime.go`, `runc/util.go GetTopic`). */
export const TOPICS = {
  TaskCreate: '/tasks/create',
  TaskStart: '/tasks/start',
  TaskOOM: '/tasks/oom',
  TaskExit: '/tasks/exit',
  TaskDelete: '/tasks/delete',
  TaskExecAdded: '/tasks/exec-added',
  TaskExecStarted: '/tasks/exec-started',
  TaskPaused: '/tasks/paused',
  TaskResumed: '/tasks/resumed',
  TaskCheckpointed: '/tasks/checkpointed',
} as const;

/** An event payload type name (`containerd.events.<Name>`). */
export type EventName = keyof typeof TOPICS;

/** A `google.protobuf.Any` as the protos take it. */
export interface AnyMessage {
  type_url: string;
  value: Buffer;
}

/** Encodes `payload` as `containerd.events.<name>` in an Any, canonically (as Go would). */
export function eventAny(root: protobuf.Root, name: EventName, payload: object): AnyMessage {
  const typeName = `containerd.events.${name}`;
  return { type_url: typeName, value: encodeMessage(root.lookupType(typeName), payload) };
}
