// XEP-0048 <storage/> ⇄ XEP-0402 conferences: what survives the round trip,
// what is refused, and when two conferences count as the same.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseElement } from '../../net/xml-stream.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { NS } from '../../xmpp/ns.ts';
import { fromStorage, roomJid, sameConference, toStorage } from './convert.ts';

const storage = (inner: string) => parseElement(`<storage xmlns="${NS.legacyBookmarks}">${inner}</storage>`);

function refused(inner: string): string {
  try {
    fromStorage(storage(inner));
  } catch (err) {
    assert.ok(err instanceof StanzaError);
    return `${err.condition}: ${err.text}`;
  }
  return 'accepted';
}

describe('bookmark conversion', () => {
  test('XEP-0048 → XEP-0402: one conference per room JID (prepared), autojoin as true/false, nick, password, other children in <extensions/>, URLs dropped', () => {
    const list = fromStorage(
      storage(
        `<conference jid='Team@Conference.Example' name='Team' autojoin='1'><nick>Al</nick><password>pw</password><x xmlns='urn:example:ext' a='b'/></conference>` +
          `<url name='Site' url='https://example.org/'/><conference jid='ops@conference.example' autojoin='0'/>`,
      ),
    );
    assert.deepEqual(
      list.map((b) => b.jid),
      ['team@conference.example', 'ops@conference.example'],
    );
    assert.equal(
      list[0]!.conference.toString(),
      `<conference xmlns="${NS.bookmarks}" name="Team" autojoin="true"><nick>Al</nick><password>pw</password><extensions><x xmlns="urn:example:ext" a="b"/></extensions></conference>`,
    );
    assert.equal(list[1]!.conference.toString(), `<conference xmlns="${NS.bookmarks}" autojoin="false"/>`);
  });

  test('XEP-0402 → XEP-0048 and back gives the same conferences', () => {
    const list = fromStorage(storage(`<conference jid='a@c.example' name='A' autojoin='true'><nick>n</nick><x xmlns='urn:example:ext'/></conference><conference jid='b@c.example'/>`));
    const legacy = toStorage(list);
    assert.equal(
      legacy.toString(),
      `<storage xmlns="${NS.legacyBookmarks}"><conference jid="a@c.example" name="A" autojoin="true"><nick>n</nick><x xmlns="urn:example:ext"/></conference><conference jid="b@c.example"/></storage>`,
    );
    const again = fromStorage(parseElement(legacy.toString()));
    assert.ok(again.every((b, i) => b.jid === list[i]!.jid && sameConference(b.conference, list[i]!.conference)));
    assert.equal(toStorage([]).toString(), `<storage xmlns="${NS.legacyBookmarks}"/>`);
  });

  test('sameConference: autojoin 1 and true alike; name, nick, password or extensions differing are changes', () => {
    const c = (s: string) => parseElement(`<conference xmlns='${NS.bookmarks}' ${s}`);
    assert.ok(sameConference(c(`autojoin='1' name='A'><nick>n</nick></conference>`), c(`name='A' autojoin='true'><nick>n</nick></conference>`)));
    assert.ok(sameConference(c(`/>`), c(`autojoin='false'/>`)));
    assert.ok(!sameConference(c(`name='A'/>`), c(`name='B'/>`)));
    assert.ok(!sameConference(c(`><nick>n</nick></conference>`), c(`/>`)));
    assert.ok(!sameConference(c(`><password>p</password></conference>`), c(`><password>q</password></conference>`)));
    assert.ok(!sameConference(c(`><extensions><x xmlns='urn:e'/></extensions></conference>`), c(`/>`)));
  });

  test('malformed lists are refused with bad-request naming the problem', () => {
    assert.match(refused(`<conference name='x'/>`), /^bad-request: The bookmark jid '' is not a room JID/);
    assert.match(refused(`<conference jid='room@c.example/nick'/>`), /is not a room JID/);
    assert.match(refused(`<conference jid='a@@b'/>`), /is not a room JID/);
    assert.match(refused(`<conference jid='a@c.example' autojoin='yes'/>`), /autojoin 'yes'/);
    assert.match(refused(`<conference jid='a@c.example'/><conference jid='A@c.example'/>`), /a@c.example is bookmarked twice/);
    assert.throws(() => fromStorage(parseElement(`<storage xmlns='urn:other'/>`)), StanzaError);
    assert.equal(roomJid('room@conference.example'), 'room@conference.example');
    assert.equal(roomJid('conference.example'), 'conference.example');
  });
});
