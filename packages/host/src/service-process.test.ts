import assert from 'node:assert/strict';
import { test } from 'node:test';
import { skippedPlugin, withoutDisabled } from './service-process.js';

test('disabled plugins are left out of introspection', () => {
  const plugins = [skippedPlugin('io.containerd.grpc.v1', 'cri', 'later'), { type: 'io.containerd.grpc.v1', id: 'version', requires: [], status: 'ok' as const }];
  assert.deepEqual(withoutDisabled(plugins, ['io.containerd.grpc.v1.cri']).map((p) => p.id), ['version']);
  assert.equal(withoutDisabled(plugins, []).length, 2);
  assert.equal(skippedPlugin('a', 'b', 'why').status, 'skip');
});
