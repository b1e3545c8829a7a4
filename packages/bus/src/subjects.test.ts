import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Code } from '@flotilla/api';
import {
  EVENTS_PREFIX,
  INTROSPECT_SUBJECT,
  eventSubject,
  healthSubject,
  methodSubject,
  serviceWildcard,
  topicOfSubject,
} from './subjects.js';

describe('subjects', () => {
  it('maps methods, services and health to their subjects', () => {
    assert.equal(methodSubject('content', 'Write'), 'flotilla.content.v1.Write');
    assert.equal(methodSubject('metadata', 'Namespaces.Create'), 'flotilla.metadata.v1.Namespaces.Create');
    assert.equal(serviceWildcard('metadata'), 'flotilla.metadata.v1.>');
    assert.equal(healthSubject('metadata'), 'flotilla.health.metadata');
    assert.equal(INTROSPECT_SUBJECT, 'flotilla.introspect');
    assert.equal(EVENTS_PREFIX, 'flotilla.events');
  });

  it('maps event topics to subjects', () => {
    assert.equal(eventSubject('/tasks/exit'), 'flotilla.events.tasks.exit');
    assert.equal(eventSubject('/namespaces/create'), 'flotilla.events.namespaces.create');
    assert.equal(eventSubject('/images/update'), 'flotilla.events.images.update');
    assert.equal(eventSubject('/a_b/c-d/E9'), 'flotilla.events.a_b.c-d.E9');
  });

  it('rejects invalid topics with InvalidArgument (code 3)', () => {
    const bad = ['tasks/exit', '', '/', '/tasks//exit', '/tasks/', '//tasks', '/a.b', '/tasks/a.b', '/tasks/*', '/tasks/>', '/a b'];
    for (const topic of bad) {
      assert.throws(() => eventSubject(topic), (err: any) => err.code === Code.InvalidArgument, `topic ${JSON.stringify(topic)}`);
    }
    assert.throws(() => eventSubject(undefined as unknown as string), (err: any) => err.code === Code.InvalidArgument);
  });

  it('topicOfSubject inverts eventSubject', () => {
    for (const topic of ['/tasks/exit', '/namespaces/create', '/snapshot/prepare', '/a_b/c-d/E9', '/x']) {
      assert.equal(topicOfSubject(eventSubject(topic)), topic);
    }
    assert.equal(topicOfSubject('flotilla.events.tasks.exit'), '/tasks/exit');
  });
});
