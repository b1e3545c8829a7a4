/** Header names of the bus contract (docs/bus.md). Lower-case, matched exactly. */
import { headers as natsHeaders, type MsgHdrs } from 'nats';
import { Code, FlotillaError, codeOf, isCodeNumber, messageOf } from '@flotilla/api';

/** Caller's containerd namespace. */
export const H_NAMESPACE = 'fl-namespace';
/** Caller's lease id. */
export const H_LEASE = 'fl-lease';
/** Milliseconds the caller will wait; the server aborts the handler after it. */
export const H_TIMEOUT = 'fl-timeout-ms';
/** Opaque id for logs, propagated across hops. */
export const H_REQUEST_ID = 'fl-request-id';
/** Interval at which the caller expects liveness messages while a call is in progress. */
export const H_HEARTBEAT = 'fl-heartbeat-ms';
/** Kind of a message on a reply or stream subject: `hb`, `open`, `data`, `credit`, `end`, `error`, `cancel`. */
export const H_KIND = 'fl-kind';
/** Present (value `1`) on a request that opens a stream. */
export const H_STREAM = 'fl-stream';
/** Message credit granted to the peer (initial on `open`/stream requests, additional on `credit`). */
export const H_CREDIT = 'fl-credit';
/** Subject the peer sends stream control and data to. */
export const H_CONTROL = 'fl-control';
/** Error code header (gRPC status number) — the NATS services convention. */
export const H_ERROR_CODE = 'Nats-Service-Error-Code';
/** Error message header. */
export const H_ERROR = 'Nats-Service-Error';

/** Creates a header set. */
export function newHeaders(): MsgHdrs {
  return natsHeaders();
}

/** Puts an error's kind and message on headers. */
export function setErrorHeaders(h: MsgHdrs, err: unknown): void {
  h.set(H_ERROR_CODE, String(codeOf(err) === Code.OK ? Code.Unknown : codeOf(err)));
  // Header values cannot hold CR/LF.
  h.set(H_ERROR, messageOf(err).replace(/[\r\n]+/g, ' '));
}

/** Reads an error from headers, or undefined when the message carries none. */
export function errorFromHeaders(h: MsgHdrs | undefined): FlotillaError | undefined {
  if (!h) return undefined;
  const raw = h.get(H_ERROR_CODE);
  if (!raw) return undefined;
  const n = Number(raw);
  return new FlotillaError(isCodeNumber(n) ? n : Code.Unknown, h.get(H_ERROR) || 'unknown error');
}

/** Whether a message is the NATS server's "no responders" status. */
export function isNoResponders(h: MsgHdrs | undefined): boolean {
  return !!h && h.hasError && h.code === 503;
}
