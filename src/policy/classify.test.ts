// The policy classifier's payload facts: end-to-end encryption (OMEMO, OMEMO 2,
// OpenPGP XEP-0373 and XEP-0027), and the named features rules can name.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { x, type Element } from '../xmpp/element.ts';
import { classifyPayload, POLICY_NS } from './classify.ts';
import type { PeerScope, PolicyRequest } from './types.ts';

function facts(stanza: Element, scope: PeerScope = 'local', to = 'bob@example.org/desk'): Record<string, boolean | string> {
  const req: PolicyRequest = {
    action: `stanza.${stanza.name}`,
    subject: { jid: 'alice@example.org', domain: 'example.org', groups: [] },
    resource: { jid: to, scope },
    time: new Date(),
  };
  classifyPayload(req, stanza);
  return req.facts ?? {};
}

const msg = (...children: Element[]) => x('message', { type: 'chat', to: 'bob@example.org' }, ...children);
const body = () => x('body').t('hello');

describe('policy classifier', () => {
  test('plaintext, OMEMO (legacy and :2), OpenPGP (XEP-0373, XEP-0027)', () => {
    assert.deepEqual(facts(msg(body())), { body: true, e2ee: 'none' });
    assert.deepEqual(facts(msg(x('active', { xmlns: 'http://jabber.org/protocol/chatstates' }))), { body: false, e2ee: 'none' });
    const legacy = x('encrypted', { xmlns: POLICY_NS.omemoLegacy }, x('header', { sid: '1' }, x('iv').t('aXY=')), x('payload').t('Y3Q='));
    assert.deepEqual(facts(msg(body(), legacy)), { body: true, e2ee: 'omemo' });
    const v2 = x('encrypted', { xmlns: POLICY_NS.omemo2 }, x('header', { sid: '1' }, x('keys', { jid: 'bob@example.org' }, x('key', { rid: '2' }).t('a2V5'))), x('payload').t('Y3Q='));
    assert.deepEqual(facts(msg(body(), v2)), { body: true, e2ee: 'omemo' });
    assert.deepEqual(facts(msg(body(), x('openpgp', { xmlns: POLICY_NS.openpgp }).t('LS0tLS1CRUdJTg=='))), { body: true, e2ee: 'openpgp' });
    assert.deepEqual(facts(msg(body(), x('x', { xmlns: POLICY_NS.legacyPgp }).t('hQEMA...'))), { body: true, e2ee: 'openpgp' });
  });

  test('an empty or header-less "encrypted" element is not encryption', () => {
    assert.equal(facts(msg(body(), x('encrypted', { xmlns: POLICY_NS.omemoLegacy })))['e2ee'], 'none');
    assert.equal(facts(msg(body(), x('openpgp', { xmlns: POLICY_NS.openpgp })))['e2ee'], 'none');
    assert.equal(facts(msg(body(), x('encrypted', { xmlns: 'urn:example:fake' }, x('header'))))['e2ee'], 'none');
  });

  test('calls: a Jingle session or a call proposal with audio is voice, with video is video', () => {
    const rtp = (media: string) => x('description', { xmlns: POLICY_NS.jingleRtp, media });
    const jingle = x('iq', { type: 'set', to: 'bob@example.org/desk' }, x('jingle', { xmlns: POLICY_NS.jingle, action: 'session-initiate' }, x('content', { name: 'a' }, rtp('audio')), x('content', { name: 'v' }, rtp('video'))));
    assert.deepEqual(facts(jingle), { 'feature:voice': true, 'feature:video': true });
    const propose = msg(x('propose', { xmlns: POLICY_NS.jingleMessage0, id: 'c1' }, rtp('audio')));
    assert.equal(facts(propose)['feature:voice'], true);
  });

  test('peer-to-peer file transfer, upload, invitations, whiteboard, remote control', () => {
    const iq = (child: Element) => x('iq', { type: 'set', to: 'bob@example.org/desk' }, child);
    assert.equal(facts(iq(x('si', { xmlns: POLICY_NS.si })))['feature:p2p-file-transfer'], true);
    assert.equal(facts(iq(x('open', { xmlns: POLICY_NS.ibb })))['feature:p2p-file-transfer'], true);
    const ft = x('jingle', { xmlns: POLICY_NS.jingle, action: 'session-initiate' }, x('content', {}, x('description', { xmlns: 'urn:xmpp:jingle:apps:file-transfer:5' })));
    assert.equal(facts(iq(ft))['feature:p2p-file-transfer'], true);
    assert.equal(facts(iq(x('request', { xmlns: POLICY_NS.httpUpload })), 'host', 'upload.example.org')['feature:file-transfer'], true);
    assert.equal(facts(msg(x('x', { xmlns: POLICY_NS.directInvite, jid: 'room@muc.example.org' })))['feature:invitations'], true);
    assert.equal(facts(msg(x('x', { xmlns: POLICY_NS.mucUser }, x('invite', { to: 'bob@example.org' }))))['feature:invitations'], true);
    assert.equal(facts(msg(x('sxe', { xmlns: POLICY_NS.sxe })))['feature:whiteboard'], true);
    assert.equal(facts(iq(x('command', { xmlns: POLICY_NS.commands, node: 'x' })))['feature:remote-control'], true);
    assert.equal(facts(iq(x('command', { xmlns: POLICY_NS.commands, node: 'x' })), 'host', 'example.org')['feature:remote-control'], undefined, 'commands to the server are administration, not remote control');
  });

  test('presence: subscriptions to other servers are external contacts; broadcasts to others are presence visibility', () => {
    assert.equal(facts(x('presence', { type: 'subscribe' }), 'remote', 'x@other.example')['feature:external-contacts'], true);
    assert.equal(facts(x('presence', { type: 'subscribe' }), 'local', 'bob@example.org')['feature:external-contacts'], undefined);
    assert.equal(facts(x('presence'), 'local', 'bob@example.org')['feature:presence-visibility'], true);
    assert.equal(facts(x('presence'), 'self', 'alice@example.org')['feature:presence-visibility'], undefined);
  });
});

describe('policy classifier: peer-to-peer file transfer (issue #8)', () => {
  const iq = (child: Element) => x('iq', { type: 'set', to: 'bob@example.org/desk' }, child);
  const p2p = (stanza: Element) => facts(stanza)['feature:p2p-file-transfer'];
  const FT5 = 'urn:xmpp:jingle:apps:file-transfer:5';

  test('SOCKS5 bytestream offers and in-band bytestream data are p2p', () => {
    assert.equal(p2p(iq(x('query', { xmlns: POLICY_NS.bytestreams, sid: 's1' }, x('streamhost', { jid: 'bob@example.org/desk', host: '192.0.2.1', port: '5000' })))), true);
    assert.equal(p2p(iq(x('data', { xmlns: POLICY_NS.ibb, sid: 's1', seq: '0' }).t('aGVsbG8='))), true);
  });

  test('a file offer proposed by message (XEP-0353) is p2p; a call proposal is not', () => {
    const file = msg(x('propose', { xmlns: POLICY_NS.jingleMessage0, id: 'f1' }, x('description', { xmlns: FT5 })));
    assert.equal(p2p(file), true);
    const file1 = msg(x('propose', { xmlns: POLICY_NS.jingleMessage1, id: 'f2' }, x('description', { xmlns: 'urn:xmpp:jingle:apps:file-transfer:4' })));
    assert.equal(p2p(file1), true);
    const call = msg(x('propose', { xmlns: POLICY_NS.jingleMessage0, id: 'c1' }, x('description', { xmlns: POLICY_NS.jingleRtp, media: 'audio' })));
    assert.equal(p2p(call), undefined);
  });

  test('jabber:iq:oob (XEP-0066 iq) is p2p; jabber:x:oob in a message (an upload link) is not', () => {
    assert.equal(p2p(iq(x('query', { xmlns: POLICY_NS.iqOob }, x('url').t('http://192.0.2.1:8080/f.bin')))), true);
    assert.equal(p2p(msg(body(), x('x', { xmlns: 'jabber:x:oob' }, x('url').t('https://upload.example.org/a/f.png')))), undefined);
  });

  test('Jingle iqs that carry only a file transport (s5b, ibb) are p2p; an RTP session is not', () => {
    const transportInfo = (ns: string) =>
      iq(x('jingle', { xmlns: POLICY_NS.jingle, action: 'transport-info', sid: 'j1' }, x('content', { creator: 'initiator', name: 'f' }, x('transport', { xmlns: ns, sid: 't1' }))));
    assert.equal(p2p(transportInfo(POLICY_NS.jingleS5b)), true);
    assert.equal(p2p(transportInfo(POLICY_NS.jingleIbb)), true);
    const ice = iq(x('jingle', { xmlns: POLICY_NS.jingle, action: 'transport-info', sid: 'j2' }, x('content', { name: 'a' }, x('transport', { xmlns: 'urn:xmpp:jingle:transports:ice-udp:1' }))));
    assert.equal(p2p(ice), undefined);
  });
});
