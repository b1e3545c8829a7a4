/**
 * Untrusted input at the gateway (ARCHITECTURE §6): each bad request gets containerd's status code,
 * changes nothing (`ctr ns ls` is unchanged), and the gateway process survives (same pid, and
 * `ctr version` still answers).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ctr, pidAlive, startFlotilla, type FlotillaStack } from '@flotilla/testkit';
import { ApiClient, nameMessage } from './api-client.js';

const MiB = 1024 * 1024;
const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

describe('bad input at the gateway', () => {
  let stack: FlotillaStack | undefined;
  let api: ApiClient;
  let gatewayPid: number;
  let nsBefore: string;

  before(
    async () => {
      stack = await startFlotilla();
      api = new ApiClient(stack.address);
      for (const [n, labels] of [['keep1', { a: '1' }], ['keep2', {}]] as const) assert.equal((await api.createNamespace(n, labels)).code, 0);
      const ls = await ctr(stack.address, ['ns', 'ls']);
      assert.equal(ls.code, 0, ls.stderr);
      nsBefore = ls.stdout;
      assert.match(nsBefore, /^keep1\s+a=1\s*$/m);
      gatewayPid = stack.pidOf('gateway');
    },
    { timeout: 60_000 },
  );

  after(
    async () => {
      api?.close();
      await stack?.stop();
    },
    { timeout: 30_000 },
  );

  /** Nothing changed and the gateway is the same live process that still answers. */
  async function unharmed(): Promise<void> {
    assert.equal(stack!.pidOf('gateway'), gatewayPid, 'the gateway was restarted');
    assert.ok(pidAlive(gatewayPid), 'the gateway died');
    const v = await ctr(stack!.address, ['version'], { timeoutMs: 10_000 });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /Server:\n\s+Version:\s+0\.1\.0/);
    const ls = await ctr(stack!.address, ['ns', 'ls'], { timeoutMs: 10_000 });
    assert.equal(ls.code, 0, ls.stderr);
    assert.equal(ls.stdout, nsBefore, 'ctr ns ls changed');
  }

  it('an invalid namespace name is InvalidArgument', { timeout: 30_000 }, async () => {
    for (const name of ['A!', '-a', 'a..b', 'a/b', 'a'.repeat(77), '']) {
      const r = await api.createNamespace(name);
      assert.equal(r.code, 3, `Create ${JSON.stringify(name.slice(0, 20))}: ${r.code} ${r.details}`);
    }
    // (containerd 1.6 accepts this Update and creates a namespace it could never have created.)
    const upd = await api.call(api.namespaces, 'Update', { namespace: { name: 'B@d', labels: { a: 'b' } } });
    assert.equal(upd.code, 3, upd.details);
    const ctrCreate = await ctr(stack!.address, ['ns', 'create', 'A!']);
    assert.equal(ctrCreate.code, 1);
    assert.match(ctrCreate.stderr, /invalid argument/);
    await unharmed();
  });

  it('an oversized label is InvalidArgument', { timeout: 30_000 }, async () => {
    const big = await api.createNamespace('biglabel', { x: 'y'.repeat(5000) });
    assert.equal(big.code, 3, big.details);
    const bigKey = await api.createNamespace('bigkey', { ['k'.repeat(5000)]: 'v' });
    assert.equal(bigKey.code, 3, bigKey.details);
    // (containerd 1.6 answers this one with Unknown.)
    const upd = await api.call(api.namespaces, 'Update', { namespace: { name: 'keep1', labels: { a: 'z'.repeat(5000) } }, update_mask: { paths: ['labels.a'] } });
    assert.equal(upd.code, 3, upd.details);
    await unharmed();
  });

  it('a malformed filter is InvalidArgument in Events.Subscribe and Introspection.Plugins', { timeout: 30_000 }, async () => {
    // (containerd 1.6 itself ends such a Subscribe with Unknown; InvalidArgument is what it means.)
    for (const filters of [['topic=='], ['namespace==x,'], ['"unterminated']]) {
      const s = api.subscribe(filters, { timeoutMs: 10_000 });
      const st = await s.status;
      assert.equal(st.code, 3, `Subscribe ${JSON.stringify(filters)}: ${st.code} ${st.details}`);
    }
    for (const filters of [['type=='], ['id==x,'], ['"unterminated'], ['==x']]) {
      const r = await api.call(api.introspection, 'Plugins', { filters });
      assert.equal(r.code, 3, `Plugins ${JSON.stringify(filters)}: ${r.code} ${r.details}`);
    }
    const ok = await api.call<{ plugins: { id: string }[] }>(api.introspection, 'Plugins', { filters: ['id==namespaces'] });
    assert.equal(ok.code, 0, ok.details);
    assert.deepEqual(ok.value!.plugins.map((p) => p.id), ['namespaces']);
    await unharmed();
  });

  it('an invalid containerd-namespace on Events.Publish is InvalidArgument', { timeout: 30_000 }, async () => {
    const event = { type_url: 'containerd.events.NamespaceCreate', value: nameMessage('x') };
    for (const ns of ['A!', 'a/b', '..', 'x'.repeat(77)]) {
      const r = await api.call(api.events, 'Publish', { topic: '/flotilla-test/bad', event }, { namespace: ns });
      assert.equal(r.code, 3, `namespace ${JSON.stringify(ns)}: ${r.code} ${r.details}`);
    }
    await unharmed();
  });

  it('garbage bytes on the socket, 20 connections', { timeout: 60_000 }, async () => {
    const payloads = (i: number): Buffer[] => {
      const junk = randomBytes(64 * 1024);
      switch (i % 4) {
        case 0:
          return [junk];
        case 1:
          return [Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'), junk]; // wrong preface
        case 2:
          return [Buffer.from(PREFACE), junk]; // right preface, garbage frames
        default:
          return [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), junk];
      }
    };
    for (let i = 0; i < 20; i++) {
      const s = connect(stack!.address);
      s.on('error', () => undefined); // EPIPE/ECONNRESET when the server hangs up first
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2_000);
        s.once('connect', () => {
          for (const p of payloads(i)) s.write(p);
          s.end();
        });
        s.once('close', () => (clearTimeout(t), resolve()));
        s.resume();
      });
      s.destroy();
    }
    await unharmed();
  });

  it('half-open connections left open do not block other clients', { timeout: 60_000 }, async () => {
    const open: Socket[] = [];
    try {
      const dial = (setup: (s: Socket) => void) =>
        new Promise<void>((resolve, reject) => {
          const s = connect({ path: stack!.address, allowHalfOpen: true });
          open.push(s);
          s.on('error', () => undefined);
          s.once('connect', () => (setup(s), resolve()));
          s.once('error', reject);
        });
      await dial((s) => s.write(PREFACE.slice(0, 9))); // a partial preface, then silence
      await dial((s) => s.write(PREFACE)); // the preface, never a SETTINGS frame, never reads
      await dial((s) => s.end(PREFACE)); // the preface, then our half closed
      await dial(() => undefined); // connected, nothing sent
      await unharmed();
      const r = await api.call(api.namespaces, 'List', {});
      assert.equal(r.code, 0, r.details);
    } finally {
      for (const s of open) s.destroy();
    }
    await unharmed();
  });

  it('a gRPC message larger than 16 MiB is ResourceExhausted', { timeout: 60_000 }, async () => {
    const big = new ApiClient(stack!.address, { 'grpc.max_send_message_length': 64 * MiB });
    try {
      const r = await big.createNamespace('huge', { x: 'y'.repeat(17 * MiB) }, { timeoutMs: 30_000 });
      assert.equal(r.code, 8, r.details);
      // The same client still works for normal-sized calls.
      const ok = await big.call(big.namespaces, 'Get', { name: 'keep1' });
      assert.equal(ok.code, 0, ok.details);
    } finally {
      big.close();
    }
    await unharmed();
  });
});
