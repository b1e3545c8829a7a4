import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import protobuf from 'protobufjs';
import { Code, codeOf } from '@flotilla/api';
import { binaryName, encodeAnyMessage, lookPath, parseStartOutput, resolveRuntimePath, shimArgs, shimEnv, type ShimCommand } from './shim-binary.js';

describe('shim binaries', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fl-shimbin-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'bin'));
  const fake = join(dir, 'bin', 'containerd-shim-fake-v9');
  writeFileSync(fake, '#!/bin/sh\n');
  chmodSync(fake, 0o755);
  writeFileSync(join(dir, 'bin', 'containerd-shim-noexec-v1'), '');

  test('runtime names map to containerd-shim-<name>-<version>', () => {
    assert.equal(binaryName('io.containerd.runc.v2'), 'containerd-shim-runc-v2');
    assert.equal(binaryName('runc.v1'), 'containerd-shim-runc-v1');
    assert.equal(binaryName('runc'), '');
  });

  test('resolution: configured map, absolute path, PATH; errors read as containerd 1.6 (kind Unknown)', () => {
    const path = join(dir, 'bin');
    assert.equal(resolveRuntimePath('io.containerd.fake.v9', {}, path), fake);
    assert.equal(resolveRuntimePath('io.containerd.x.v1', { 'io.containerd.x.v1': '/opt/x' }, path), '/opt/x');
    assert.equal(resolveRuntimePath(fake, {}, path), fake);
    assert.equal(lookPath('containerd-shim-noexec-v1', path), undefined, 'not executable');
    const cases: [string, string][] = [
      ['io.containerd.foo.v1', 'runtime "io.containerd.foo.v1" binary not installed "containerd-shim-foo-v1": file does not exist'],
      ['foo', 'invalid runtime name foo, correct runtime name should be either format like `io.containerd.runc.v1` or a full path to the binary'],
      ['/no/such/shim', 'invalid custom binary path: stat /no/such/shim: no such file or directory'],
      ['', 'no runtime name'],
    ];
    for (const [name, message] of cases) {
      assert.throws(() => resolveRuntimePath(name, {}, path), (err: Error) => {
        assert.equal(codeOf(err), Code.Unknown);
        assert.equal(err.message, message);
        return true;
      });
    }
  });

  test('start output: bare address or JSON version 2 over ttrpc', () => {
    assert.deepEqual(parseStartOutput('unix:///run/containerd/s/abc\n'), { address: 'unix:///run/containerd/s/abc', version: 2, protocol: 'ttrpc' });
    assert.deepEqual(parseStartOutput('{"version":2,"address":"unix:///x","protocol":"ttrpc"}'), { address: 'unix:///x', version: 2, protocol: 'ttrpc' });
    assert.throws(() => parseStartOutput('{"version":3,"address":"unix:///x","protocol":"ttrpc"}'), /unsupported shim version \(3\)/);
    assert.throws(() => parseStartOutput('{"version":2,"address":"unix:///x","protocol":"grpc"}'), /unsupported shim protocol/);
    assert.throws(() => parseStartOutput('  \n'), /no address/);
    assert.throws(() => parseStartOutput('some error text'), /unexpected shim start output/);
  });

  test('command line and environment as containerd builds them', () => {
    const c: ShimCommand = { binary: fake, namespace: 'ns', id: 'c1', bundle: '/b/ns/c1', grpcAddress: '/run/g.sock', ttrpcAddress: '/run/g.sock.ttrpc', publishBinary: '/bin/fl' };
    assert.deepEqual(shimArgs(c, 'start'), ['-namespace', 'ns', '-address', '/run/g.sock', '-publish-binary', '/bin/fl', '-id', 'c1', 'start']);
    assert.deepEqual(shimArgs({ ...c, debug: true }, 'delete'), ['-namespace', 'ns', '-address', '/run/g.sock', '-publish-binary', '/bin/fl', '-id', 'c1', '-bundle', '/b/ns/c1', '-debug', 'delete']);
    const env = shimEnv(c, { PATH: '/bin' });
    assert.deepEqual(env, { PATH: '/bin', GOMAXPROCS: '2', TTRPC_ADDRESS: '/run/g.sock.ttrpc', GRPC_ADDRESS: '/run/g.sock', NAMESPACE: 'ns', MAX_SHIM_VERSION: '2' });
  });

  test('the options Any on stdin is a protobuf google.protobuf.Any', () => {
    const bytes = encodeAnyMessage({ type_url: 'containerd.runc.v1.Options', value: new Uint8Array([0x3a, 0x01, 0x78]) });
    const r = protobuf.Reader.create(bytes);
    assert.equal(r.uint32(), (1 << 3) | 2);
    assert.equal(r.string(), 'containerd.runc.v1.Options');
    assert.equal(r.uint32(), (2 << 3) | 2);
    assert.deepEqual([...r.bytes()], [0x3a, 0x01, 0x78]);
    assert.equal(r.pos, bytes.length);
  });
});
