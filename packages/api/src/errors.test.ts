import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Code, FlotillaError, codeOf, isCode, kindError, notFound, toFlotillaError } from './errors.js';
import { validateIdentifier } from './identifiers.js';
import { validateLabels } from './labels.js';

test('kind errors carry containerd-style messages and their code', () => {
  const e = notFound('namespace "a"');
  assert.equal(e.message, 'namespace "a": not found');
  assert.equal(e.code, Code.NotFound);
  assert.equal(kindError(Code.Unimplemented, 'method x').message, 'method x: not implemented');
  assert.ok(isCode(e, Code.NotFound));
});

test('codeOf reads plain objects, aborts and unknowns', () => {
  assert.equal(codeOf({ code: 6 }), Code.AlreadyExists);
  assert.equal(codeOf({ code: 'ENOENT' }), Code.Unknown);
  assert.equal(codeOf({ code: 99 }), Code.Unknown);
  assert.equal(codeOf(Object.assign(new Error('x'), { name: 'AbortError' })), Code.Canceled);
  assert.equal(codeOf(new Error('plain')), Code.Unknown);
  assert.equal(codeOf(undefined), Code.Unknown);
  const wrapped = toFlotillaError({ code: 9, message: 'busy' });
  assert.ok(wrapped instanceof FlotillaError);
  assert.equal(wrapped.code, 9);
  assert.equal(wrapped.message, 'busy');
});

test('identifiers follow containerd rules', () => {
  for (const ok of ['a', 'default', 'k8s.io', 'a-b_c.d', 'A1', 'x'.repeat(76)]) validateIdentifier(ok);
  for (const bad of ['', '-a', 'a-', 'a..b', 'a b', 'a/b', 'A!', 'x'.repeat(77)]) {
    assert.throws(() => validateIdentifier(bad), (e: unknown) => codeOf(e) === Code.InvalidArgument);
  }
  assert.throws(() => validateIdentifier('A!'), { message: 'identifier "A!" must match ^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$: invalid argument' });
});

test('labels are limited to 4096 bytes of key and value', () => {
  validateLabels({ k: 'v'.repeat(4095) });
  assert.throws(() => validateLabels({ k: 'v'.repeat(4096) }), (e: unknown) => codeOf(e) === Code.InvalidArgument);
  assert.throws(() => validateLabels({ k: 'é'.repeat(2048) }), (e: unknown) => codeOf(e) === Code.InvalidArgument);
});
