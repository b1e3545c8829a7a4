import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { adaptEnvelope, adaptObject, parseFilter, parseFilters, type Adaptor } from './index.js';

describe('adaptObject', () => {
  const container = {
    id: 'c1',
    image: 'docker.io/library/redis:7',
    runtime: { name: 'io.containerd.runc.v2', options: { binary: 'runc' } },
    labels: { 'io.cri-containerd.kind': 'sandbox', app: 'web', blank: '' },
    annotations: new Map([['a.b.c', 'x']]),
    pid: 42,
    big: 9007199254740993n,
    running: false,
    empty: '',
    nothing: null,
    list: ['a', 'b'],
    createdAt: new Date(0),
    snapshotKey: 'snap-1',
  };
  const a = adaptObject(container);

  it('stringifies strings, numbers, bigints and booleans', () => {
    assert.deepEqual(a.field(['id']), { value: 'c1', present: true });
    assert.deepEqual(a.field(['pid']), { value: '42', present: true });
    assert.deepEqual(a.field(['big']), { value: '9007199254740993', present: true });
    assert.deepEqual(a.field(['running']), { value: 'false', present: true });
  });

  it('walks nested objects', () => {
    assert.deepEqual(a.field(['runtime', 'name']), { value: 'io.containerd.runc.v2', present: true });
    assert.deepEqual(a.field(['runtime', 'options', 'binary']), { value: 'runc', present: true });
    assert.deepEqual(a.field(['runtime', 'missing']), { value: '', present: false });
    assert.deepEqual(a.field(['id', 'deeper']), { value: '', present: false });
  });

  it('reports objects, arrays, null, dates, missing keys and the empty path as absent', () => {
    for (const path of [['runtime'], ['list'], ['nothing'], ['createdAt'], ['nope'], [], ['list', '0']]) {
      assert.deepEqual(a.field(path), { value: '', present: false }, JSON.stringify(path));
    }
  });

  it('treats empty strings as absent, like containerd, unless asked', () => {
    assert.deepEqual(a.field(['empty']), { value: '', present: false });
    assert.deepEqual(adaptObject(container, { emptyStringPresent: true }).field(['empty']), { value: '', present: true });
  });

  it('joins the rest of the path into one label/annotation key', () => {
    assert.deepEqual(a.field(['labels', 'io', 'cri-containerd', 'kind']), { value: 'sandbox', present: true });
    assert.deepEqual(a.field(['labels', 'io.cri-containerd.kind']), { value: 'sandbox', present: true });
    assert.deepEqual(a.field(['labels', 'app']), { value: 'web', present: true });
    assert.deepEqual(a.field(['labels', 'blank']), { value: '', present: true });
    assert.deepEqual(a.field(['labels', 'io']), { value: '', present: false });
    assert.deepEqual(a.field(['labels']), { value: '', present: false });
    assert.deepEqual(a.field(['annotations', 'a', 'b', 'c']), { value: 'x', present: true });
  });

  it('honours custom map fields', () => {
    const b = adaptObject({ env: { 'A.B': '1' }, labels: { x: { y: 'nested' } } }, { mapFields: ['env'] });
    assert.deepEqual(b.field(['env', 'A', 'B']), { value: '1', present: true });
    assert.deepEqual(b.field(['labels', 'x', 'y']), { value: 'nested', present: true });
  });

  it('falls back to camelCase keys for snake_case paths', () => {
    assert.deepEqual(a.field(['snapshot_key']), { value: 'snap-1', present: true });
    assert.deepEqual(adaptObject(container, { camelCaseFallback: false }).field(['snapshot_key']), {
      value: '',
      present: false,
    });
  });

  it('only sees own properties', () => {
    assert.deepEqual(a.field(['constructor']), { value: '', present: false });
    assert.deepEqual(a.field(['toString']), { value: '', present: false });
    assert.deepEqual(a.field(['labels', '__proto__']), { value: '', present: false });
  });

  it('drives filters end to end', () => {
    assert.equal(parseFilter('labels."io.cri-containerd.kind"==sandbox,runtime.name~=runc').match(a), true);
    assert.equal(parseFilter('image==docker.io/library/redis:7,labels.app!=web').match(a), false);
    assert.equal(parseFilters(['labels.app==db', 'id==c1']).match(a), true);
  });
});

describe('adaptEnvelope', () => {
  const envelope = {
    namespace: 'k8s.io',
    topic: '/tasks/exit',
    timestamp: new Date(0),
    event: { container_id: 'c1', id: 'c1', pid: 1234, exit_status: 137, exited_at: { seconds: 5 } },
  };
  const e = adaptEnvelope(envelope);

  it('exposes namespace and topic', () => {
    assert.deepEqual(e.field(['namespace']), { value: 'k8s.io', present: true });
    assert.deepEqual(e.field(['topic']), { value: '/tasks/exit', present: true });
    assert.deepEqual(e.field(['topic', 'x']), { value: '', present: false });
    assert.deepEqual(adaptEnvelope({ namespace: '', topic: '' }).field(['namespace']), { value: '', present: false });
  });

  it('never exposes the timestamp or unknown fields', () => {
    assert.deepEqual(e.field(['timestamp']), { value: '', present: false });
    assert.deepEqual(e.field(['container_id']), { value: '', present: false });
  });

  it('delegates event.<path> to the decoded event', () => {
    assert.deepEqual(e.field(['event', 'container_id']), { value: 'c1', present: true });
    assert.deepEqual(e.field(['event', 'pid']), { value: '1234', present: true });
    assert.deepEqual(e.field(['event', 'exited_at', 'seconds']), { value: '5', present: true });
    assert.deepEqual(e.field(['event']), { value: '', present: false });
    assert.deepEqual(e.field(['event', 'missing']), { value: '', present: false });
  });

  it('handles envelopes without a decoded event', () => {
    assert.deepEqual(adaptEnvelope({ namespace: 'n', topic: 't' }).field(['event', 'id']), { value: '', present: false });
    assert.deepEqual(adaptEnvelope({ namespace: 'n', topic: 't', event: null }).field(['event', 'id']), {
      value: '',
      present: false,
    });
  });

  it('uses an event that is itself an adaptor', () => {
    const seen: string[][] = [];
    const event: Adaptor = {
      field(path) {
        seen.push(path);
        return path[0] === 'name' ? { value: 'docker.io/library/alpine:latest', present: true } : { value: '', present: false };
      },
    };
    const env = adaptEnvelope({ namespace: 'default', topic: '/images/create', event });
    assert.equal(parseFilter('event.name~=alpine').match(env), true);
    assert.deepEqual(seen, [['name']]);
  });

  it('drives event subscriptions end to end', () => {
    const imageEvent = adaptEnvelope({ namespace: 'default', topic: '/images/update', event: { name: 'docker.io/library/busybox:latest', labels: { 'com.example.key': 'v' } } });
    assert.equal(parseFilter('event.name==docker.io/library/busybox:latest').match(imageEvent), true);
    assert.equal(parseFilter('event.labels."com.example.key"==v').match(imageEvent), true);
    assert.equal(parseFilter('event.labels.com.example.key==v').match(imageEvent), true);

    const filter = parseFilters(['topic~=|^/tasks/|,event.container_id==c1', 'namespace==default,topic~=/^\\/images\\//']);
    assert.equal(filter.match(e), true);
    assert.equal(filter.match(imageEvent), true);
    assert.equal(filter.match(adaptEnvelope({ ...envelope, event: { container_id: 'c2' } })), false);
    assert.equal(filter.match(adaptEnvelope({ namespace: 'k8s.io', topic: '/images/update', event: {} })), false);
    assert.equal(parseFilter('event.container_id!=c2,event.exit_status==137').match(e), true);
  });
});
