// The pipeline in-process: accept, decide (with its deny path and audit entry),
// dispatch and the RFC defaults. Sessions here are plain recording objects;
// the real sockets are covered by test/integration.
import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { Router, StreamFault } from './router.ts';
import { SessionRegistry } from './sessions.ts';
import type { ClientSession } from './session.ts';
import { DecisionPoint, allowAll } from '../policy/decision-point.ts';
import type { PolicyRequest, PolicyRules } from '../policy/types.ts';
import { openStorage } from '../storage/index.ts';
import type { Storage } from '../storage/types.ts';
import { x, type Element } from '../xmpp/element.ts';
import { parseJID } from '../xmpp/jid.ts';
import { StanzaError } from '../xmpp/errors.ts';
import { NS } from '../xmpp/ns.ts';

const log = pino({ level: 'silent' });

class RecordingSession implements ClientSession {
  readonly id: string;
  readonly jid;
  readonly ip = '127.0.0.1';
  readonly security = { tls: true, tlsVersion: 'TLSv1.3', mechanism: 'SCRAM-SHA-256-PLUS' };
  readonly connectedAt = new Date();
  available = true;
  priority = 0;
  presence: Element | undefined;
  received: Element[] = [];
  closedWith: string | undefined;
  constructor(full: string) {
    this.jid = parseJID(full);
    this.id = full;
  }
  send(stanza: Element): void {
    this.received.push(stanza);
  }
  close(condition?: string): void {
    this.closedWith = condition ?? 'closed';
  }
}

function errorOf(stanza: Element | undefined): { condition?: string; text?: string; type?: string } {
  const err = stanza?.getChild('error');
  return {
    type: err?.attrs.type,
    condition: err?.elements.find((e) => e.ns === NS.stanzas && e.name !== 'text')?.name,
    text: err?.getChildText('text', NS.stanzas),
  };
}

describe('router', () => {
  let storage: Storage;
  let sessions: SessionRegistry;
  let policy: DecisionPoint;
  let router: Router;
  let alice: RecordingSession;
  let bob: RecordingSession;
  const accounts = new Set(['alice', 'bob']);

  beforeEach(async () => {
    storage = await openStorage({ backend: 'sqlite', path: ':memory:' });
    sessions = new SessionRegistry();
    policy = new DecisionPoint(allowAll, storage.audit, log);
    router = new Router({ host: 'example.test', sessions, policy, accountExists: async (l) => accounts.has(l), log });
    alice = new RecordingSession('alice@example.test/phone');
    bob = new RecordingSession('bob@example.test/desk');
    sessions.add(alice);
    sessions.add(bob);
  });
  afterEach(() => storage.close());

  test('stamps the sender full JID on what it routes and delivers to an online full JID', async () => {
    await router.fromClient(alice, x('message', { to: 'Bob@Example.Test/desk', type: 'chat' }, x('body').t('hi')));
    assert.equal(bob.received.length, 1);
    assert.equal(bob.received[0]!.attrs.from, 'alice@example.test/phone');
    assert.equal(bob.received[0]!.attrs.to, 'bob@example.test/desk', "'to' is the prepared JID");
  });

  test("a forged 'from' is a stream fault (invalid-from); the own bare JID is accepted", async () => {
    await assert.rejects(
      router.fromClient(alice, x('message', { to: 'bob@example.test/desk', from: 'bob@example.test/desk' })),
      (err: unknown) => err instanceof StreamFault && err.condition === 'invalid-from',
    );
    assert.equal(bob.received.length, 0);
    await router.fromClient(alice, x('message', { to: 'bob@example.test/desk', from: 'alice@example.test' }));
    assert.equal(bob.received[0]!.attrs.from, 'alice@example.test/phone');
  });

  test('non-stanza top-level elements are a stream fault (unsupported-stanza-type)', async () => {
    await assert.rejects(router.fromClient(alice, x('foo', { xmlns: 'urn:example' })), (err: unknown) => err instanceof StreamFault && err.condition === 'unsupported-stanza-type');
  });

  test('shape errors: iq without id, get with two children, unknown presence type, malformed to', async () => {
    await router.fromClient(alice, x('iq', { type: 'get', to: 'example.test' }, x('ping', { xmlns: NS.ping })));
    await router.fromClient(alice, x('iq', { type: 'get', id: 'two', to: 'example.test' }, x('a', { xmlns: 'urn:a' }), x('b', { xmlns: 'urn:b' })));
    await router.fromClient(alice, x('presence', { type: 'dance' }));
    await router.fromClient(alice, x('message', { to: 'a@b@c', id: 'm1' }));
    const [noId, two, presence, badTo] = alice.received;
    assert.deepEqual(errorOf(noId), { type: 'modify', condition: 'bad-request', text: "An iq stanza needs an 'id' attribute." });
    assert.equal(noId!.attrs.id, undefined);
    assert.equal(errorOf(two).condition, 'bad-request');
    assert.equal(two!.attrs.id, 'two');
    assert.equal(errorOf(presence).condition, 'bad-request');
    assert.equal(errorOf(badTo).condition, 'jid-malformed');
    assert.equal(bob.received.length, 0);
  });

  test('a deny verdict answers with its condition and text, is audited, and reaches no handler', async () => {
    const denyChat: PolicyRules = {
      name: 'test',
      evaluate: (req: PolicyRequest) =>
        req.feature === 'chat'
          ? { decision: 'deny', rule: 'no-chat', condition: 'policy-violation', text: 'Chat is not allowed for your group.' }
          : { decision: 'allow', rule: 'rest' },
    };
    policy.setRules(denyChat);
    await router.fromClient(alice, x('message', { to: 'bob@example.test/desk', type: 'chat', id: 'c1' }, x('body').t('secret')));
    assert.equal(bob.received.length, 0);
    const reply = alice.received[0]!;
    assert.equal(reply.attrs.type, 'error');
    assert.equal(reply.attrs.id, 'c1');
    assert.equal(reply.attrs.from, 'bob@example.test/desk');
    assert.deepEqual(errorOf(reply), { type: 'modify', condition: 'policy-violation', text: 'Chat is not allowed for your group.' });
    // Other traffic of the same session still flows.
    await router.fromClient(alice, x('message', { to: 'bob@example.test/desk', type: 'normal' }, x('body').t('ok')));
    assert.equal(bob.received.length, 1);
    await new Promise((r) => setTimeout(r, 20)); // the audit append is not on the stanza path
    const audit = await storage.audit.list();
    assert.equal(audit.length, 1);
    assert.equal(audit[0]!.actor, 'alice@example.test');
    assert.equal(audit[0]!.action, 'stanza.message');
    assert.equal(audit[0]!.decision, 'deny');
    assert.equal(audit[0]!.reason, 'Chat is not allowed for your group.');
    assert.deepEqual(audit[0]!.details, { rule: 'no-chat', condition: 'policy-violation', target: 'bob@example.test/desk', feature: 'chat' });
    assert.ok(!JSON.stringify(audit).includes('secret'), 'no message body in the audit log');
  });

  test('a decision point that throws denies (fail closed) with internal-server-error', async () => {
    policy.setRules({
      name: 'broken',
      evaluate: () => {
        throw new Error('boom');
      },
    });
    await router.fromClient(alice, x('message', { to: 'bob@example.test/desk', id: 'b1' }, x('body').t('x')));
    assert.equal(bob.received.length, 0);
    assert.equal(errorOf(alice.received[0]).condition, 'internal-server-error');
  });

  test('hooks run by priority; the first that handles wins; a StanzaError becomes the reply', async () => {
    const order: string[] = [];
    router.addHook('message/bare', () => (order.push('low'), true), -1);
    router.addHook('message/bare', () => (order.push('high'), false), 10);
    router.addHook('message/bare', () => (order.push('mid'), true), 5);
    await router.fromClient(alice, x('message', { to: 'bob@example.test' }));
    assert.deepEqual(order, ['high', 'mid']);
    router.addHook('message/bare', () => {
      throw new StanzaError('not-acceptable', 'Too loud.');
    }, 100);
    await router.fromClient(alice, x('message', { to: 'bob@example.test', id: 'l' }));
    assert.deepEqual(errorOf(alice.received.at(-1)), { type: 'modify', condition: 'not-acceptable', text: 'Too loud.' });
  });

  test('an unexpected exception in a handler becomes internal-server-error, not a crash', async () => {
    router.addIq({ type: 'get', ns: 'urn:x', targets: ['host'] }, () => {
      throw new TypeError('bug');
    });
    await router.fromClient(alice, x('iq', { type: 'get', id: 'q', to: 'example.test' }, x('q', { xmlns: 'urn:x' })));
    assert.equal(errorOf(alice.received[0]).condition, 'internal-server-error');
  });

  test('iq dispatch: host handlers, account handlers, unknown namespaces and accounts answer service-unavailable', async () => {
    router.addIq({ type: 'get', ns: NS.ping, name: 'ping', targets: ['host', 'account'] }, () => undefined);
    await router.fromClient(alice, x('iq', { type: 'get', id: '1', to: 'example.test' }, x('ping', { xmlns: NS.ping })));
    await router.fromClient(alice, x('iq', { type: 'get', id: '2' }, x('ping', { xmlns: NS.ping })));
    await router.fromClient(alice, x('iq', { type: 'get', id: '3', to: 'bob@example.test' }, x('ping', { xmlns: NS.ping })));
    await router.fromClient(alice, x('iq', { type: 'get', id: '4', to: 'nobody@example.test' }, x('ping', { xmlns: NS.ping })));
    await router.fromClient(alice, x('iq', { type: 'get', id: '5', to: 'example.test' }, x('query', { xmlns: 'urn:unknown' })));
    await router.fromClient(alice, x('iq', { type: 'get', id: '6', to: 'bob@example.test/gone' }, x('ping', { xmlns: NS.ping })));
    const [r1, r2, r3, r4, r5, r6] = alice.received;
    assert.deepEqual([r1!.attrs.type, r1!.attrs.from, r1!.attrs.id], ['result', 'example.test', '1']);
    assert.deepEqual([r2!.attrs.type, r2!.attrs.from], ['result', 'alice@example.test']);
    assert.deepEqual([r3!.attrs.type, r3!.attrs.from], ['result', 'bob@example.test']);
    assert.equal(errorOf(r4).condition, 'service-unavailable');
    assert.equal(errorOf(r5).condition, 'service-unavailable');
    assert.equal(errorOf(r6).condition, 'service-unavailable');
    assert.equal(r5!.getChild('query', 'urn:unknown') !== undefined, true, 'the error carries the original payload');
  });

  test('registering the same iq twice is refused; a remover unregisters', () => {
    const remove = router.addIq({ type: 'get', ns: 'urn:dup', targets: ['host'] }, () => undefined);
    assert.throws(() => router.addIq({ type: 'get', ns: 'urn:dup', targets: ['host'] }, () => undefined), /already registered/);
    remove();
    router.addIq({ type: 'get', ns: 'urn:dup', targets: ['host'] }, () => undefined);
  });

  test('RFC 6121 defaults: offline full JID falls back to bare for chat; remote domains are unreachable; errors are never bounced', async () => {
    const seen: string[] = [];
    router.addHook('message/bare', (s, route) => (seen.push(`${route.to.toString()}:${s.attrs.type}`), true));
    await router.fromClient(alice, x('message', { to: 'bob@example.test/gone', type: 'chat' }));
    assert.deepEqual(seen, ['bob@example.test:chat']);
    await router.fromClient(alice, x('message', { to: 'someone@elsewhere.test', id: 'r' }));
    assert.equal(errorOf(alice.received.at(-1)).condition, 'remote-server-not-found');
    const before = alice.received.length;
    await router.fromClient(alice, x('message', { to: 'someone@elsewhere.test', type: 'error' }));
    await router.fromClient(alice, x('iq', { to: 'example.test', type: 'result', id: 'z' }));
    assert.equal(alice.received.length, before, 'no error answers an error or a result');
  });
  test('a component host: its stanzas reach the handler after the decision, as scope host; disco items list it; a removed one is remote again', async () => {
    const requests: PolicyRequest[] = [];
    policy.setRules({
      name: 'test',
      evaluate: (req: PolicyRequest) => {
        requests.push(req);
        return req.feature === 'headline' ? { decision: 'deny', rule: 'no-headline', text: 'No headlines to rooms.' } : { decision: 'allow', rule: 'rest' };
      },
    });
    const handled: string[] = [];
    const remove = router.addComponent('Rooms.Example.Test', 'Rooms', (s, route) => {
      handled.push(`${s.name} ${route.target} ${route.to.toString()} ${route.from.toString()}`);
      if (s.name === 'iq') throw new StanzaError('forbidden', 'not you');
    });
    assert.deepEqual(router.componentItems(), [{ jid: 'rooms.example.test', name: 'Rooms' }]);
    assert.throws(() => router.addComponent('rooms.example.test', 'again', () => undefined), /already served/);
    assert.throws(() => router.addComponent('example.test', 'host', () => undefined), /other than example.test/);

    await router.fromClient(alice, x('presence', { to: 'room@rooms.example.test/Al' }));
    assert.deepEqual(handled, ['presence component room@rooms.example.test/Al alice@example.test/phone']);
    assert.equal(requests[0]!.resource?.scope, 'service');
    assert.equal(requests[0]!.resource?.jid, 'room@rooms.example.test/Al');

    await router.fromClient(alice, x('message', { to: 'room@rooms.example.test', type: 'headline', id: 'h' }));
    assert.equal(handled.length, 1, 'a denied stanza never reaches the component');
    assert.equal(errorOf(alice.received.at(-1)).text, 'No headlines to rooms.');

    await router.fromClient(alice, x('iq', { to: 'room@rooms.example.test', type: 'get', id: 'q' }, x('query', { xmlns: 'urn:q' })));
    const reply = alice.received.at(-1)!;
    assert.deepEqual([reply.attrs.from, errorOf(reply).condition], ['room@rooms.example.test', 'forbidden']);

    remove();
    await router.fromClient(alice, x('message', { to: 'room@rooms.example.test', id: 'gone' }));
    assert.equal(errorOf(alice.received.at(-1)).condition, 'remote-server-not-found');
  });

  test("a relayed stanza is decided as the real sender's to the real recipient, and delivered with the component's 'from'", async () => {
    const requests: PolicyRequest[] = [];
    policy.setRules({
      name: 'test',
      evaluate: (req: PolicyRequest) => {
        requests.push(req);
        return req.subject.jid === 'carol@example.test' ? { decision: 'deny', rule: 'no-carol', text: 'Carol may not.' } : { decision: 'allow', rule: 'rest' };
      },
    });
    router.addComponent('rooms.example.test', 'Rooms', () => undefined);
    const pm = () => x('message', { from: 'room@rooms.example.test/Al', to: 'bob@example.test/desk', type: 'chat' }, x('body').t('psst'));
    const allowed = await router.fromComponent(pm(), parseJID('alice@example.test/phone'));
    assert.equal(allowed.decision, 'allow');
    assert.equal(bob.received[0]!.attrs.from, 'room@rooms.example.test/Al', 'the real JID is not revealed');
    assert.equal(requests[0]!.subject.jid, 'alice@example.test');
    assert.deepEqual([requests[0]!.resource?.jid, requests[0]!.resource?.scope], ['bob@example.test/desk', 'local']);
    const denied = await router.fromComponent(pm(), parseJID('carol@example.test/x'));
    assert.deepEqual([denied.decision, denied.text], ['deny', 'Carol may not.']);
    assert.equal(bob.received.length, 1);
  });
});
