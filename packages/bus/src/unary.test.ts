/** Unary calls against a real nats-server: errors, context headers, deadlines, heartbeats, replicas, close. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createInbox, type Msg } from 'nats';
import {
  Code,
  FlotillaError,
  alreadyExists,
  failedPrecondition,
  invalidArgument,
  notFound,
  unimplemented,
} from '@flotilla/api';
import type { Bus } from './bus.js';
import { decodeBody, encodeBody } from './codec.js';
import type { CallContext } from './context.js';
import { forwardOptions } from './context.js';
import { ServiceClient } from './contract.js';
import { H_ERROR, H_ERROR_CODE, H_HEARTBEAT, H_KIND, H_NAMESPACE, H_REQUEST_ID, H_TIMEOUT, newHeaders } from './headers.js';
import { methodSubject } from './subjects.js';
import { startTestNats, type TestNats } from './testing-nats.js';

/** Rejects-with helper: awaits `p`, expects a FlotillaError-like value, returns it and the elapsed ms. */
async function failure(p: Promise<unknown>): Promise<{ err: FlotillaError; ms: number }> {
  const t0 = Date.now();
  try {
    await p;
  } catch (err) {
    return { err: err as FlotillaError, ms: Date.now() - t0 };
  }
  assert.fail('expected the call to fail');
}

describe('bus unary calls', () => {
  let nats: TestNats;
  let server: Bus;
  let client: Bus;

  before(async () => {
    nats = await startTestNats();
    server = await nats.connect('unary-server');
    client = await nats.connect('unary-client');
    server.serve('errs', {
      unary: {
        NotFound: () => {
          throw notFound('namespace "x"');
        },
        AlreadyExists: async () => {
          throw alreadyExists('image "docker.io/library/busybox:latest"');
        },
        FailedPrecondition: async () => {
          throw failedPrecondition('snapshot "s1" is committed');
        },
        InvalidArgument: async () => {
          throw invalidArgument('identifier "-bad-"');
        },
        Unimplemented: async () => {
          throw unimplemented('Tasks.Checkpoint');
        },
        Plain: async () => {
          throw new Error('something broke');
        },
        Echo: async (req: unknown) => ({ echo: req }),
        Empty: async () => undefined,
      },
    });
    await server.nc.flush();
  });

  after(async () => {
    await nats.stop();
  });

  it('carries request and reply bodies', async () => {
    const req = { name: 'k8s.io', bytes: new Uint8Array([1, 2, 3]), list: [1, 'two'] };
    const res = await client.call<{ echo: typeof req }>('errs', 'Echo', req);
    assert.equal(res.echo.name, 'k8s.io');
    assert.deepEqual(Array.from(res.echo.bytes), [1, 2, 3]);
    assert.deepEqual(res.echo.list, [1, 'two']);
    // A handler returning nothing answers an empty map.
    assert.deepEqual(await client.call('errs', 'Empty', {}), {});
  });

  it('keeps the error kind and message across the hop', async () => {
    const cases: [string, Code, string][] = [
      ['NotFound', Code.NotFound, 'namespace "x": not found'],
      ['AlreadyExists', Code.AlreadyExists, 'image "docker.io/library/busybox:latest": already exists'],
      ['FailedPrecondition', Code.FailedPrecondition, 'snapshot "s1" is committed: failed precondition'],
      ['InvalidArgument', Code.InvalidArgument, 'identifier "-bad-": invalid argument'],
      ['Unimplemented', Code.Unimplemented, 'Tasks.Checkpoint: not implemented'],
      ['Plain', Code.Unknown, 'something broke'],
    ];
    for (const [method, code, message] of cases) {
      const { err } = await failure(client.call('errs', method, {}));
      assert.ok(err instanceof FlotillaError, method);
      assert.equal(err.code, code, method);
      assert.equal(err.message, message, method);
    }
  });

  it('answers an unknown method with Unimplemented (12)', async () => {
    const { err, ms } = await failure(client.call('errs', 'Nope.Missing', {}, { timeoutMs: 5000 }));
    assert.equal(err.code, Code.Unimplemented);
    assert.equal(err.message, 'method errs.Nope.Missing: not implemented');
    assert.ok(ms < 1000, `took ${ms} ms`);
  });

  it('fails a call to a service nobody serves with Unavailable (14) at once', async () => {
    const { err, ms } = await failure(client.call('nobody', 'Anything', {}, { timeoutMs: 5000 }));
    assert.equal(err.code, Code.Unavailable);
    assert.match(err.message, /no service answers/);
    assert.ok(ms < 500, `no-responders took ${ms} ms`);
  });

  it('answers a malformed request body with InvalidArgument (3)', async () => {
    const inbox = createInbox();
    const sub = client.nc.subscribe(inbox, { max: 1 });
    client.nc.publish(methodSubject('errs', 'Echo'), new Uint8Array([0x92, 0x01]), { reply: inbox });
    for await (const m of sub) {
      assert.equal(m.headers?.get(H_ERROR_CODE), '3');
      assert.match(m.headers?.get(H_ERROR) ?? '', /malformed MessagePack/);
    }
  });

  it('passes namespace, lease, request id and deadline to the handler', async () => {
    let seen: CallContext | undefined;
    server.serve('ctx', {
      unary: {
        Show: (_req, ctx) => {
          seen = ctx;
          return { namespace: ctx.namespace, lease: ctx.lease, requestId: ctx.requestId };
        },
      },
    });
    await server.nc.flush();
    const t0 = Date.now();
    const res = await client.call('ctx', 'Show', {}, { namespace: 'k8s.io', lease: 'lease-1', requestId: 'rid-42', timeoutMs: 7000 });
    assert.deepEqual(res, { namespace: 'k8s.io', lease: 'lease-1', requestId: 'rid-42' });
    assert.ok(seen);
    assert.ok(seen.deadline >= t0 + 6000 && seen.deadline <= Date.now() + 7000, `deadline ${seen.deadline - t0} ms ahead`);
    assert.equal(seen.signal.aborted, false);
    // Without namespace, lease and request id: the handler sees none, and a generated request id.
    const bare = await client.call<{ namespace?: string; lease?: string; requestId: string }>('ctx', 'Show', {});
    assert.equal(bare.namespace, undefined);
    assert.equal(bare.lease, undefined);
    assert.match(bare.requestId, /^[0-9a-f-]{36}$/);
  });

  it('forwards the context on nested calls (ServiceClient + forwardOptions)', async () => {
    const inner = new ServiceClient<{ Show: { req: object; res: { namespace?: string; lease?: string; requestId: string } } }>(server, 'ctx');
    server.serve('outer', {
      unary: {
        Hop: async (_req, ctx) => ({ inner: await inner.call('Show', {}, forwardOptions(ctx)), left: ctx.deadline - Date.now() }),
      },
    });
    await server.nc.flush();
    const res = await client.call<any>('outer', 'Hop', {}, { namespace: 'ns.with.dots', lease: 'l2', requestId: 'rid-7', timeoutMs: 3000 });
    assert.deepEqual(res.inner, { namespace: 'ns.with.dots', lease: 'l2', requestId: 'rid-7' });
    assert.ok(res.left > 2000 && res.left <= 3000);
  });

  it('aborts the handler at the deadline and fails the caller with DeadlineExceeded (4)', async () => {
    let fired: { code: number; at: number } | undefined;
    server.serve('slow', {
      unary: {
        Wait: (_req, ctx) =>
          new Promise((_resolve, reject) => {
            ctx.signal.addEventListener('abort', () => {
              fired = { code: (ctx.signal.reason as FlotillaError).code, at: Date.now() };
              reject(ctx.signal.reason);
            });
          }),
      },
    });
    await server.nc.flush();
    const t0 = Date.now();
    const { err, ms } = await failure(client.call('slow', 'Wait', {}, { timeoutMs: 300 }));
    assert.equal(err.code, Code.DeadlineExceeded);
    assert.ok(ms >= 290 && ms < 1000, `caller gave up after ${ms} ms`);
    for (let i = 0; i < 50 && !fired; i++) await sleep(20);
    assert.ok(fired, "the handler's signal fired");
    assert.equal(fired.code, Code.DeadlineExceeded);
    assert.ok(fired.at - t0 < 1000, `handler aborted after ${fired.at - t0} ms`);
  });

  it('cancels a call when the caller aborts its signal (1)', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const { err, ms } = await failure(client.call('slow', 'Wait', {}, { timeoutMs: 5000, signal: ac.signal }));
    assert.equal(err.code, Code.Canceled);
    assert.ok(ms < 1000);
    const pre = new AbortController();
    pre.abort();
    assert.equal((await failure(client.call('slow', 'Wait', {}, { signal: pre.signal }))).err.code, Code.Canceled);
  });

  it('answers a rejected handler with its error, not a timeout', async () => {
    server.serve('rejects', {
      unary: {
        Later: async () => {
          await sleep(100);
          throw failedPrecondition('container "c1" has a running task');
        },
      },
    });
    await server.nc.flush();
    const { err, ms } = await failure(client.call('rejects', 'Later', {}, { timeoutMs: 5000 }));
    assert.equal(err.code, Code.FailedPrecondition);
    assert.equal(err.message, 'container "c1" has a running task: failed precondition');
    assert.ok(ms < 1000, `rejection took ${ms} ms of a 5000 ms timeout`);
  });

  it('keeps a long call alive with heartbeats', async () => {
    const hbServer = await nats.connect('hb-server', { heartbeatMs: 200 });
    const hbClient = await nats.connect('hb-client', { heartbeatMs: 200 });
    hbServer.serve('long', {
      unary: {
        Work: async (req: { ms: number }) => {
          await sleep(req.ms);
          return { done: true };
        },
      },
    });
    await hbServer.nc.flush();
    // 2 s of work is ten times the 600 ms liveness window: only heartbeats keep the call alive.
    const t0 = Date.now();
    assert.deepEqual(await hbClient.call('long', 'Work', { ms: 2000 }, { timeoutMs: 5000 }), { done: true });
    assert.ok(Date.now() - t0 >= 2000);

    // On the wire: `fl-kind: hb` replies every fl-heartbeat-ms, then the real reply.
    const inbox = createInbox();
    const sub = hbClient.nc.subscribe(inbox);
    const h = newHeaders();
    h.set(H_TIMEOUT, '5000');
    h.set(H_HEARTBEAT, '100');
    h.set(H_REQUEST_ID, 'raw-1');
    hbClient.nc.publish(methodSubject('long', 'Work'), encodeBody({ ms: 650 }), { reply: inbox, headers: h });
    let beats = 0;
    let reply: Msg | undefined;
    for await (const m of sub) {
      if (m.headers?.get(H_KIND) === 'hb') {
        assert.equal(m.data.length, 0);
        beats++;
        continue;
      }
      reply = m;
      break;
    }
    sub.unsubscribe();
    assert.ok(beats >= 3 && beats <= 8, `${beats} heartbeats in 650 ms at 100 ms`);
    assert.deepEqual(decodeBody(reply!.data), { done: true });
    assert.equal(reply!.headers?.get(H_ERROR_CODE) ?? '', '');
  });

  it('serves a hand-rolled (non-Bus) client that follows docs/bus.md', async () => {
    server.serve('raw', { unary: { Ns: (_req, ctx) => ({ ns: ctx.namespace ?? null }) } });
    await server.nc.flush();
    const h = newHeaders();
    h.set(H_NAMESPACE, 'default');
    h.set(H_TIMEOUT, '2000');
    h.set(H_REQUEST_ID, 'r-1');
    h.set(H_HEARTBEAT, '500');
    const m = await client.nc.request(methodSubject('raw', 'Ns'), encodeBody({}), { timeout: 2000, headers: h });
    assert.deepEqual(decodeBody(m.data), { ns: 'default' });
  });

  it('calls a hand-rolled (non-Bus) server in the service queue group', async () => {
    // What a plugin in another language does: one wildcard subscription in the queue group.
    const sub = client.nc.subscribe('flotilla.handrolled.v1.>', {
      queue: 'handrolled',
      callback: (_err, m) => {
        const method = m.subject.slice('flotilla.handrolled.v1.'.length);
        if (method === 'Namespaces.Get') {
          const req = decodeBody<{ name: string }>(m.data);
          if (req.name === 'default') return m.respond(encodeBody({ namespace: { name: 'default', labels: {} } }));
          const e = newHeaders();
          e.set('Nats-Service-Error-Code', '5');
          e.set('Nats-Service-Error', `namespace "${req.name}": not found`);
          return m.respond(new Uint8Array(0), { headers: e });
        }
        const e = newHeaders();
        e.set('Nats-Service-Error-Code', '12');
        e.set('Nats-Service-Error', `method ${method}: not implemented`);
        m.respond(new Uint8Array(0), { headers: e });
      },
    });
    await client.nc.flush();
    try {
      assert.deepEqual(await server.call('handrolled', 'Namespaces.Get', { name: 'default' }), { namespace: { name: 'default', labels: {} } });
      const { err } = await failure(server.call('handrolled', 'Namespaces.Get', { name: 'nope' }));
      assert.equal(err.code, Code.NotFound);
      assert.equal(err.message, 'namespace "nope": not found');
      assert.equal((await failure(server.call('handrolled', 'Other', {}))).err.code, Code.Unimplemented);
    } finally {
      sub.unsubscribe();
    }
  });

  it('spreads calls over two replicas of a service', async () => {
    const a = await nats.connect('replica-a');
    const b = await nats.connect('replica-b');
    const counts = { a: 0, b: 0 };
    a.serve('replicated', { unary: { Who: () => (counts.a++, { who: 'a' }) } });
    b.serve('replicated', { unary: { Who: () => (counts.b++, { who: 'b' }) } });
    await Promise.all([a.nc.flush(), b.nc.flush()]);
    const replies = await Promise.all(Array.from({ length: 200 }, () => client.call<{ who: string }>('replicated', 'Who', {})));
    const got = { a: replies.filter((r) => r.who === 'a').length, b: replies.filter((r) => r.who === 'b').length };
    assert.equal(got.a + got.b, 200);
    assert.deepEqual(got, counts);
    assert.ok(got.a > 40 && got.b > 40, `uneven split a=${got.a} b=${got.b}`);
    await Promise.all([a.close(), b.close()]);
  });

  it('close() lets an in-flight call finish, then refuses new calls with Unavailable (14)', async () => {
    const closing = await nats.connect('closing-server');
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    let finishedAt = 0;
    closing.serve('closing', {
      unary: {
        Slow: async () => {
          started();
          await sleep(600);
          finishedAt = Date.now();
          return { finished: true };
        },
      },
    });
    await closing.nc.flush();
    const call = client.call('closing', 'Slow', {}, { timeoutMs: 5000 });
    await running;
    assert.equal(closing.inflightCount, 1);
    const t0 = Date.now();
    await closing.close(2000);
    const closedAt = Date.now();
    assert.deepEqual(await call, { finished: true });
    assert.ok(finishedAt > 0 && finishedAt <= closedAt, 'close() returned only after the handler finished');
    assert.ok(closedAt - t0 < 2000, `close took ${closedAt - t0} ms`);
    assert.equal(closing.inflightCount, 0);
    // Nobody serves `closing` any more: callers elsewhere get no-responders → Unavailable.
    const { err, ms } = await failure(client.call('closing', 'Slow', {}, { timeoutMs: 5000 }));
    assert.equal(err.code, Code.Unavailable);
    assert.ok(ms < 500);
    // And the closed bus itself can no longer call anything.
    assert.equal((await failure(closing.call('errs', 'Echo', {}, { timeoutMs: 5000 }))).err.code, Code.Unavailable);
  });

  it('close() aborts handlers still running after the grace period', async () => {
    const closing = await nats.connect('closing-server-2');
    let reason: FlotillaError | undefined;
    let started!: () => void;
    const running = new Promise<void>((r) => (started = r));
    closing.serve('stuck', {
      unary: {
        Stuck: (_req, ctx) =>
          new Promise((_res, rej) => {
            started();
            ctx.signal.addEventListener('abort', () => ((reason = ctx.signal.reason), rej(ctx.signal.reason)));
          }),
      },
    });
    await closing.nc.flush();
    const call = failure(client.call('stuck', 'Stuck', {}, { timeoutMs: 5000 }));
    await running;
    const t0 = Date.now();
    await closing.close(300);
    assert.ok(Date.now() - t0 >= 290);
    assert.equal(reason?.code, Code.Unavailable);
    const { err } = await call;
    assert.equal(err.code, Code.Unavailable);
    assert.match(err.message, /shutting down/);
  });
});
