import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_SOCKET_DIR, goClean, goJoin, groupIdFromAnnotations, readGroupId, socketAddress, socketDir } from './address.js';

test("Go's filepath.Clean and Join", () => {
  const cases: [string, string][] = [
    ['', '.'],
    ['/', '/'],
    ['a/b/../c', 'a/c'],
    ['/../a', '/a'],
    ['../../a/./b/', '../../a/b'],
    ['//run//containerd/', '/run/containerd'],
    ['a/..', '.'],
    ['/a/b/../../..', '/'],
  ];
  for (const [input, want] of cases) assert.equal(goClean(input), want, input);
  assert.equal(goJoin('/run/containerd/containerd.sock', 'default', 't1'), '/run/containerd/containerd.sock/default/t1');
  assert.equal(goJoin('', 'a', '', 'b'), 'a/b');
  assert.equal(goJoin(), '');
  assert.equal(goJoin('/x/', '../y'), '/y');
});

test('socket address: unix://<dir>/<hex sha256(Join(address, ns, group))> (known value)', () => {
  // sha256("/run/containerd/containerd.sock/default/t1"), as Go's SocketAddress computes it (the
  // interop test checks the same algorithm against the address Debian's runc shim writes).
  const known = 'unix:///run/containerd/s/df6a0c5cd2e9a1a16d9a3f2447365d9fc6021bc1d3d9a4caa2f5b2c4f773758f';
  assert.equal(socketAddress('/run/containerd/containerd.sock', 'default', 't1', DEFAULT_SOCKET_DIR), known);
  // Join cleans: the same socket for an address written with extra slashes.
  assert.equal(socketAddress('//run/containerd//containerd.sock/', 'default', 't1', DEFAULT_SOCKET_DIR), known);
  const hex = createHash('sha256').update('/a.sock/k8s.io/pod-1').digest('hex');
  assert.equal(socketAddress('/a.sock', 'k8s.io', 'pod-1', '/tmp/s/'), `unix:///tmp/s/${hex}`);
  assert.ok(socketAddress('/a', 'b', 'c', DEFAULT_SOCKET_DIR).length - 'unix://'.length <= 106, 'fits the socket path limit');
  assert.equal(socketDir({}), '/run/containerd/s');
  assert.equal(socketDir({ FLOTILLA_SHIM_SOCKET_DIR: '/x' }), '/x');
});

test('group id: runc.v2 group annotation, then the CRI sandbox id, then the container id', () => {
  assert.equal(groupIdFromAnnotations(undefined, 'c1'), 'c1');
  assert.equal(groupIdFromAnnotations({ 'io.kubernetes.cri.sandbox-id': 'sb' }, 'c1'), 'sb');
  assert.equal(groupIdFromAnnotations({ 'io.kubernetes.cri.sandbox-id': 'sb', 'io.containerd.runc.v2.group': 'g' }, 'c1'), 'g');
  // Presence counts, as in Go's map lookup.
  assert.equal(groupIdFromAnnotations({ 'io.containerd.runc.v2.group': '' }, 'c1'), '');
  const dir = mkdtempSync(join(tmpdir(), 'fl-shim-addr-'));
  try {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', annotations: { 'io.kubernetes.cri.sandbox-id': 'pod' } }));
    assert.equal(readGroupId(dir, 'c2'), 'pod');
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ociVersion: '1.0.2' }));
    assert.equal(readGroupId(dir, 'c2'), 'c2');
    rmSync(join(dir, 'config.json'));
    assert.throws(() => readGroupId(dir, 'c2'), /ENOENT/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
