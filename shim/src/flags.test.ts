import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlagError, parseFlags } from './flags.js';

test('containerd 1.6 start and delete command lines (binary.go, util.go Command)', () => {
  const start = parseFlags(['-namespace', 'default', '-address', '/run/containerd/containerd.sock', '-publish-binary', '/usr/bin/containerd', '-id', 't1', 'start']);
  assert.equal(start.namespace, 'default');
  assert.equal(start.address, '/run/containerd/containerd.sock');
  assert.equal(start.publishBinary, '/usr/bin/containerd');
  assert.equal(start.id, 't1');
  assert.equal(start.action, 'start');
  assert.equal(start.debug, false);

  const del = parseFlags(['-namespace', 'k8s.io', '-address', '/a.sock', '-publish-binary', '/c', '-id', 'x', '-bundle', '/run/b/x', '-debug', 'delete']);
  assert.deepEqual([del.namespace, del.id, del.bundle, del.debug, del.action], ['k8s.io', 'x', '/run/b/x', true, 'delete']);

  // The re-exec'd long-lived shim: no action.
  const serve = parseFlags(['-namespace', 'n', '-id', 'i', '-address', '/a']);
  assert.equal(serve.action, '');
  assert.equal(serve.publishBinary, 'containerd', "Go's default");
});

test("Go flag syntax: --name, -name=value, bool forms, last one wins, '--' and positionals", () => {
  const f = parseFlags(['--namespace=a', '-namespace', 'b', '-debug=false', '-v', '-socket=/s', '--', '-not-a-flag', 'x']);
  assert.equal(f.namespace, 'b');
  assert.equal(f.debug, false);
  assert.equal(f.version, true);
  assert.equal(f.socket, '/s');
  assert.equal(f.action, '-not-a-flag');
  assert.deepEqual(f.rest, ['x']);
  assert.equal(parseFlags(['-debug=1', 'start']).debug, true);
  assert.equal(parseFlags(['-debug=T']).debug, true);
  // A bool flag never takes the next argument: it is the action.
  const b = parseFlags(['-debug', 'false']);
  assert.deepEqual([b.debug, b.action], [true, 'false']);
  // Parsing stops at the first non-flag, and at a lone '-'.
  assert.deepEqual(parseFlags(['start', '-id', 'x']).rest, ['-id', 'x']);
  assert.equal(parseFlags(['-', '-id', 'x']).action, '-');
  // Values may start with '-' and be empty.
  assert.equal(parseFlags(['-id', '-x']).id, '-x');
  assert.equal(parseFlags(['-id=']).id, '');
});

test('errors as Go reports them', () => {
  assert.throws(() => parseFlags(['-nope']), (e: Error) => e instanceof FlagError && e.message === 'flag provided but not defined: -nope');
  assert.throws(() => parseFlags(['-id']), /flag needs an argument: -id/);
  assert.throws(() => parseFlags(['-debug=maybe']), /invalid boolean value "maybe" for -debug/);
  assert.throws(() => parseFlags(['---id', 'x']), /bad flag syntax: ---id/);
  assert.throws(() => parseFlags(['-=x']), /bad flag syntax/);
  assert.throws(() => parseFlags(['-h']), /help requested/);
});
