// Group chat (XEP-0045) over raw sockets, exact stanzas: the component on
// conference.localhost found through disco, locked rooms until configured,
// members-only, password and moderated rooms, kicks and bans, nick rules,
// history, subject, private messages through the decision point, invitations,
// self-ping (XEP-0410), limits and bad input — each refusal checked to leave
// the room as it was.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Element } from '../../src/xmpp/element.ts';
import { NS } from '../../src/xmpp/ns.ts';
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { login, stanzaError, type RawClient } from '../helpers/raw-client.ts';

const MUC = 'http://jabber.org/protocol/muc';
const USER = `${MUC}#user`;
const ADMIN = `${MUC}#admin`;
const OWNER = `${MUC}#owner`;
const SERVICE = 'conference.localhost';
const MODULES = ['disco', 'ping', 'roster', 'presence', 'message', 'offline', 'blocking', 'muc'];

const codes = (p: Element): number[] => (p.getChild('x', USER)?.getChildren('status') ?? []).map((s) => Number(s.attrs.code)).sort((a, b) => a - b);
const item = (p: Element): Record<string, string> => p.getChild('x', USER)?.getChild('item')?.attrs ?? {};

function configForm(fields: Record<string, string>): string {
  let x = `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>${MUC}#roomconfig</value></field>`;
  for (const [k, v] of Object.entries(fields)) x += `<field var='muc#roomconfig_${k}'><value>${v}</value></field>`;
  return `${x}</x>`;
}

describe('MUC over raw sockets', () => {
  let ts: TestServer;
  const open: RawClient[] = [];
  const passwords = new Map<string, string>();

  before(async () => {
    ts = await startTestServer({
      modules: {
        ...Object.fromEntries(MODULES.map((m) => [m, {}])),
        muc: { max_rooms_per_user: 6, max_nick_length: 20, max_subject_length: 50, max_room_name_length: 30, join_burst: 40 },
      },
    });
    for (const name of ['alice', 'bob', 'carol', 'dave', 'erin']) passwords.set(name, (await ts.addUser(name)).password);
  });
  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
    await ts?.stop();
  });

  const connect = async (name: string, resource = 'r1'): Promise<RawClient> => {
    const c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: name, password: passwords.get(name)!, resource });
    open.push(c);
    c.send(`<presence/>`);
    return c;
  };

  /** Sends join presence; resolves to the self-presence (status 110) or the error presence. */
  const join = async (c: RawClient, room: string, nick: string, inner = ''): Promise<Element> => {
    const to = `${room}@${SERVICE}/${nick}`;
    c.sendRaw(`<presence to='${to}'><x xmlns='${MUC}'>${inner}</x></presence>`);
    return c.next(
      (e) =>
        e.name === 'presence' &&
        (e.attrs.type === 'error' ? e.attrs.from?.startsWith(`${room}@`) === true : codes(e).includes(110) && e.attrs.type !== 'unavailable'),
    );
  };
  /** Joins, expecting success, and takes the subject message that ends the join. */
  const joined = async (c: RawClient, room: string, nick: string, inner = ''): Promise<Element> => {
    const self = await join(c, room, nick, inner);
    assert.notEqual(self.attrs.type, 'error', `join of ${nick} to ${room} failed: ${JSON.stringify(stanzaError(self))}`);
    await c.next((e) => e.name === 'message' && e.getChild('subject') !== undefined && e.attrs.from?.startsWith(`${room}@`) === true);
    return self;
  };
  const owner = (c: RawClient, room: string, payload: string, type: 'get' | 'set' = 'set') =>
    c.iq(type, `<query xmlns='${OWNER}'>${payload}</query>`, { to: `${room}@${SERVICE}` });
  const admin = (c: RawClient, room: string, items: string, type: 'get' | 'set' = 'set') =>
    c.iq(type, `<query xmlns='${ADMIN}'>${items}</query>`, { to: `${room}@${SERVICE}` });
  /** Creates and configures a room (the owner stays in it). */
  const createRoom = async (c: RawClient, room: string, nick: string, fields: Record<string, string> = {}) => {
    const self = await joined(c, room, nick);
    assert.deepEqual(codes(self), [110, 201]);
    const r = await owner(c, room, configForm(fields));
    assert.equal(r.attrs.type, 'result', r.toString());
  };
  const say = (c: RawClient, room: string, body: string) => c.sendRaw(`<message to='${room}@${SERVICE}' type='groupchat'><body>${body}</body></message>`);
  const heard = (c: RawClient, room: string, body: string) =>
    c.next((e) => e.name === 'message' && e.attrs.type === 'groupchat' && e.attrs.from?.startsWith(`${room}@`) === true && e.getChildText('body') === body);
  const errorFrom = (c: RawClient, from: string) => c.next((e) => e.attrs.type === 'error' && e.attrs.from === from);

  test('the server lists the component; the component and a room answer disco#info', async () => {
    const alice = await connect('alice');
    const items = await alice.iq('get', `<query xmlns='${NS.discoItems}'/>`, { to: 'localhost' });
    assert.deepEqual(
      items
        .getChild('query')!
        .getChildren('item')
        .map((i) => i.attrs.jid),
      [SERVICE],
    );
    const info = await alice.iq('get', `<query xmlns='${NS.discoInfo}'/>`, { to: SERVICE });
    const q = info.getChild('query')!;
    assert.deepEqual(q.getChild('identity')!.attrs, { category: 'conference', type: 'text', name: 'Group chat' });
    assert.ok(q.getChildren('feature').some((f) => f.attrs.var === MUC));
    const none = await alice.iq('get', `<query xmlns='${NS.discoInfo}'/>`, { to: `nowhere@${SERVICE}` });
    assert.equal(stanzaError(none).condition, 'item-not-found');
  });

  test('a new room is locked until its owner configures it; the form, then an open room with history and subject', async () => {
    const alice = await connect('alice', 'lock');
    const bob = await connect('bob', 'lock');
    const self = await joined(alice, 'lobby', 'Alice');
    assert.deepEqual(codes(self), [110, 201]);
    assert.deepEqual(item(self), { affiliation: 'owner', role: 'moderator', jid: `alice@localhost/lock` });
    const refused = await join(bob, 'lobby', 'Bob');
    assert.equal(stanzaError(refused).condition, 'item-not-found');
    assert.match(stanzaError(refused).text ?? '', /configured/);

    const form = await owner(alice, 'lobby', '', 'get');
    const fields = form
      .getChild('query')!
      .getChild('x', NS.dataForms)!
      .getChildren('field')
      .map((f) => f.attrs.var);
    for (const f of [
      'roomname',
      'roomdesc',
      'persistentroom',
      'membersonly',
      'passwordprotectedroom',
      'roomsecret',
      'moderatedroom',
      'publicroom',
      'whois',
      'changesubject',
      'allowpm',
      'maxusers',
      'historylength',
    ]) {
      assert.ok(fields.includes(`muc#roomconfig_${f}`), f);
    }
    const bad = await owner(alice, 'lobby', configForm({ maxusers: 'many' }));
    assert.equal(stanzaError(bad).condition, 'not-acceptable');
    assert.match(stanzaError(bad).text ?? '', /maxusers/);
    assert.equal((await owner(alice, 'lobby', configForm({ roomname: 'The Lobby', historylength: '3' }))).attrs.type, 'result');

    for (const n of [1, 2, 3, 4]) {
      say(alice, 'lobby', `m${n}`);
      await heard(alice, 'lobby', `m${n}`);
    }
    alice.sendRaw(`<message to='lobby@${SERVICE}' type='groupchat'><subject>Welcome</subject></message>`);
    await alice.next((e) => e.getChildText('subject') === 'Welcome');

    bob.sendRaw(`<presence to='lobby@${SERVICE}/Bob'><x xmlns='${MUC}'><history maxstanzas='2'/></x></presence>`);
    const alicePresence = await bob.next((e) => e.name === 'presence' && e.attrs.from === `lobby@${SERVICE}/Alice`);
    assert.deepEqual(item(alicePresence), { affiliation: 'owner', role: 'moderator' }, 'semi-anonymous: no real JID for a participant');
    const bobSelf = await bob.next((e) => e.name === 'presence' && codes(e).includes(110));
    assert.deepEqual(item(bobSelf).role, 'participant');
    const history = [await bob.next((e) => e.name === 'message'), await bob.next((e) => e.name === 'message')];
    assert.deepEqual(
      history.map((m) => m.getChildText('body')),
      ['m3', 'm4'],
    );
    assert.equal(history[0]!.attrs.from, `lobby@${SERVICE}/Alice`);
    assert.equal(history[0]!.getChild('delay', NS.delay)?.attrs.from, `lobby@${SERVICE}`);
    const subject = await bob.next((e) => e.name === 'message');
    assert.equal(subject.getChildText('subject'), 'Welcome');
    const bobArrives = await alice.next((e) => e.name === 'presence' && e.attrs.from === `lobby@${SERVICE}/Bob`);
    assert.equal(item(bobArrives).jid, 'bob@localhost/lock', 'moderators see real JIDs');

    // changesubject is off: a participant may not change it.
    bob.sendRaw(`<message to='lobby@${SERVICE}' type='groupchat'><subject>Mine</subject></message>`);
    assert.equal(stanzaError(await errorFrom(bob, `lobby@${SERVICE}`)).condition, 'forbidden');
    const info = await bob.iq('get', `<query xmlns='${NS.discoInfo}'/>`, { to: `lobby@${SERVICE}` });
    assert.equal(info.getChild('query')!.getChild('identity')!.attrs.name, 'The Lobby');
    const list = await bob.iq('get', `<query xmlns='${NS.discoItems}'/>`, { to: SERVICE });
    assert.ok(
      list
        .getChild('query')!
        .getChildren('item')
        .some((i) => i.attrs.jid === `lobby@${SERVICE}`),
    );
  });

  test('members-only: non-members refused, members admitted; a member cannot act as owner; kick, ban, and the outcast stays out', async () => {
    const alice = await connect('alice', 'mo');
    const bob = await connect('bob', 'mo');
    const carol = await connect('carol', 'mo');
    await createRoom(alice, 'team', 'alice', { membersonly: '1' });
    const refused = await join(carol, 'team', 'carol');
    assert.equal(stanzaError(refused).condition, 'registration-required');
    assert.ok(refused.getChild('x', MUC), 'the error presence carries the MUC element (§7.2.8)');
    assert.equal(refused.attrs.from, `team@${SERVICE}/carol`);

    const grant = await admin(alice, 'team', `<item jid='bob@localhost' affiliation='member'/><item jid='carol@localhost' affiliation='member'/>`);
    assert.equal(grant.attrs.type, 'result', grant.toString());
    await joined(bob, 'team', 'bob');
    await joined(carol, 'team', 'carol');

    // A member trying owner and admin actions: forbidden, nothing changes.
    const cfg = await owner(bob, 'team', configForm({ membersonly: '0' }));
    assert.equal(stanzaError(cfg).condition, 'forbidden');
    assert.equal(stanzaError(await owner(bob, 'team', '', 'get')).condition, 'forbidden');
    assert.equal(stanzaError(await owner(bob, 'team', `<destroy/>`)).condition, 'forbidden');
    assert.equal(stanzaError(await admin(bob, 'team', `<item nick='carol' role='none'/>`)).condition, 'forbidden');
    assert.equal(stanzaError(await admin(bob, 'team', `<item jid='carol@localhost' affiliation='outcast'/>`)).condition, 'forbidden');
    assert.equal(stanzaError(await admin(bob, 'team', `<item affiliation='member'/>`, 'get')).condition, 'forbidden');
    const form = await owner(alice, 'team', '', 'get');
    const membersOnly = form
      .getChild('query')!
      .getChild('x', NS.dataForms)!
      .getChildren('field')
      .find((f) => f.attrs.var === 'muc#roomconfig_membersonly');
    assert.equal(membersOnly!.getChildText('value'), '1', 'still members-only');
    const members = await admin(alice, 'team', `<item affiliation='member'/>`, 'get');
    assert.deepEqual(
      members
        .getChild('query')!
        .getChildren('item')
        .map((i) => i.attrs.jid),
      ['bob@localhost', 'carol@localhost'],
    );
    // The owner cannot be kicked, and the only owner cannot step down.
    assert.equal(stanzaError(await admin(alice, 'team', `<item nick='alice' role='none'/>`)).condition, 'not-allowed');
    assert.equal(stanzaError(await admin(alice, 'team', `<item jid='alice@localhost' affiliation='member'/>`)).condition, 'conflict');

    const kick = await admin(alice, 'team', `<item nick='carol' role='none'><reason>cool off</reason></item>`);
    assert.equal(kick.attrs.type, 'result');
    const kicked = await carol.next((e) => e.name === 'presence' && e.attrs.type === 'unavailable');
    assert.deepEqual(codes(kicked), [110, 307]);
    assert.equal(kicked.getChild('x', USER)!.getChild('item')!.getChildText('reason'), 'cool off');
    const seen = await bob.next((e) => e.name === 'presence' && e.attrs.type === 'unavailable' && e.attrs.from === `team@${SERVICE}/carol`);
    assert.deepEqual(codes(seen), [307]);
    await joined(carol, 'team', 'carol');

    assert.equal((await admin(alice, 'team', `<item jid='carol@localhost' affiliation='outcast'><reason>spam</reason></item>`)).attrs.type, 'result');
    const banned = await carol.next((e) => e.name === 'presence' && e.attrs.type === 'unavailable');
    assert.deepEqual(codes(banned), [110, 301]);
    const again = await join(carol, 'team', 'carol');
    assert.equal(stanzaError(again).condition, 'forbidden');
    assert.match(stanzaError(again).text ?? '', /banned/);
    const outcasts = await admin(alice, 'team', `<item affiliation='outcast'/>`, 'get');
    assert.deepEqual(
      outcasts
        .getChild('query')!
        .getChildren('item')
        .map((i) => i.attrs.jid),
      ['carol@localhost'],
    );
  });

  test('nicknames: PRECIS enforcement (210), conflicts, changes (303), bad and long ones refused', async () => {
    const alice = await connect('alice', 'nick');
    const bob = await connect('bob', 'nick');
    await createRoom(alice, 'nicks', 'Alice');
    const self = await joined(bob, 'nicks', ' Bob  Smith ');
    assert.deepEqual(codes(self), [110, 210]);
    assert.equal(self.attrs.from, `nicks@${SERVICE}/Bob Smith`);
    const taken = await join(bob, 'nicks', 'alice');
    assert.equal(stanzaError(taken).condition, 'conflict', 'case-folded nicknames are the same');
    const other = await connect('bob', 'nick2');
    const mine = await join(other, 'nicks', 'BOB SMITH');
    assert.equal(stanzaError(mine).condition, 'conflict');
    assert.match(stanzaError(mine).text ?? '', /another client/);
    assert.equal(stanzaError(await join(other, 'nicks', 'x'.repeat(21))).condition, 'not-acceptable');
    other.sendRaw(`<presence to='nicks@${SERVICE}/a&#x200B;b'><x xmlns='${MUC}'/></presence>`);
    const bad = await other.next((e) => e.attrs.type === 'error');
    assert.equal(stanzaError(bad).condition, 'jid-malformed');
    other.sendRaw(`<presence to='nicks@${SERVICE}'><x xmlns='${MUC}'/></presence>`);
    assert.equal(stanzaError(await other.next((e) => e.attrs.type === 'error')).condition, 'jid-malformed');
    other.sendRaw(`<presence to='no room@${SERVICE}/x'><x xmlns='${MUC}'/></presence>`);
    const badRoom = stanzaError(await other.next((e) => e.attrs.type === 'error'));
    assert.equal(badRoom.condition, 'jid-malformed', 'a room address PRECIS refuses never reaches the service');
    assert.match(badRoom.text ?? '', /localpart/);
    const occupants = await alice.iq('get', `<query xmlns='${ADMIN}'><item role='participant'/></query>`, { to: `nicks@${SERVICE}` });
    assert.deepEqual(
      occupants
        .getChild('query')!
        .getChildren('item')
        .map((i) => i.attrs.nick),
      ['Bob Smith'],
      'no refused join left anyone in the room',
    );

    bob.sendRaw(`<presence to='nicks@${SERVICE}/Robert'/>`);
    const gone = await alice.next((e) => e.name === 'presence' && e.attrs.type === 'unavailable');
    assert.deepEqual(codes(gone), [303]);
    assert.equal(item(gone).nick, 'Robert');
    const back = await alice.next((e) => e.name === 'presence' && e.attrs.from === `nicks@${SERVICE}/Robert`);
    assert.equal(back.attrs.type, undefined);
    // Self-ping (XEP-0410) under the new nick, and under the old one.
    assert.equal((await bob.iq('get', `<ping xmlns='urn:xmpp:ping'/>`, { to: `nicks@${SERVICE}/Robert` })).attrs.type, 'result');
    const stale = await bob.iq('get', `<ping xmlns='urn:xmpp:ping'/>`, { to: `nicks@${SERVICE}/Bob Smith` });
    assert.equal(stanzaError(stale).condition, 'not-acceptable');
  });

  test('private messages reach the real JID from room/nick, through the decision point; allowpm none refuses', async () => {
    const alice = await connect('alice', 'pm');
    const bob = await connect('bob', 'pm');
    await createRoom(alice, 'pms', 'alice');
    await joined(bob, 'pms', 'bob');
    alice.sendRaw(`<message to='pms@${SERVICE}/bob' type='chat' id='pm1'><body>psst</body></message>`);
    const pm = await bob.next((e) => e.name === 'message' && e.getChildText('body') === 'psst');
    assert.equal(pm.attrs.from, `pms@${SERVICE}/alice`);
    assert.equal(pm.attrs.to, 'bob@localhost/pm');
    assert.ok(pm.getChild('x', USER));
    alice.sendRaw(`<message to='pms@${SERVICE}/nobody' type='chat'><body>?</body></message>`);
    assert.equal(stanzaError(await errorFrom(alice, `pms@${SERVICE}/nobody`)).condition, 'item-not-found');

    // Bob blocks Alice: the relayed message is decided as Alice's to Bob, and refused.
    assert.equal((await bob.iq('set', `<block xmlns='urn:xmpp:blocking'><item jid='alice@localhost'/></block>`)).attrs.type, 'result');
    alice.sendRaw(`<message to='pms@${SERVICE}/bob' type='chat' id='pm2'><body>blocked?</body></message>`);
    const refused = await errorFrom(alice, `pms@${SERVICE}/bob`);
    assert.equal(refused.attrs.id, 'pm2');
    assert.equal((await bob.iq('set', `<unblock xmlns='urn:xmpp:blocking'/>`)).attrs.type, 'result');

    assert.equal((await owner(alice, 'pms', configForm({ allowpm: 'none' }))).attrs.type, 'result');
    const notice = await bob.next((e) => e.name === 'message' && codes(e).includes(104));
    assert.equal(notice.attrs.from, `pms@${SERVICE}`);
    bob.sendRaw(`<message to='pms@${SERVICE}/alice' type='chat'><body>hi</body></message>`);
    assert.equal(stanzaError(await errorFrom(bob, `pms@${SERVICE}/alice`)).condition, 'forbidden');
    // A non-occupant can neither talk in the room nor send private messages.
    const carol = await connect('carol', 'pm');
    say(carol, 'pms', 'hello?');
    assert.equal(stanzaError(await errorFrom(carol, `pms@${SERVICE}`)).condition, 'not-acceptable');
    const ping = await carol.iq('get', `<ping xmlns='urn:xmpp:ping'/>`, { to: `pms@${SERVICE}/carol` });
    assert.equal(stanzaError(ping).condition, 'not-acceptable');
  });

  test('password protected and moderated rooms; voice granted and revoked; mediated invitation', async () => {
    const alice = await connect('alice', 'pw');
    const bob = await connect('bob', 'pw');
    const dave = await connect('dave', 'pw');
    await createRoom(alice, 'secret', 'alice', { passwordprotectedroom: '1', roomsecret: 'sesame', moderatedroom: '1' });
    assert.equal(stanzaError(await join(bob, 'secret', 'bob')).condition, 'not-authorized');
    const wrong = await join(bob, 'secret', 'bob', '<password>nope</password>');
    assert.equal(stanzaError(wrong).condition, 'not-authorized');
    assert.match(stanzaError(wrong).text ?? '', /wrong/);
    const self = await joined(bob, 'secret', 'bob', '<password>sesame</password>');
    assert.equal(item(self).role, 'visitor');
    say(bob, 'secret', 'can I speak?');
    assert.equal(stanzaError(await errorFrom(bob, `secret@${SERVICE}`)).condition, 'forbidden');
    assert.equal((await admin(alice, 'secret', `<item nick='bob' role='participant'/>`)).attrs.type, 'result');
    await bob.next((e) => e.name === 'presence' && item(e).role === 'participant');
    say(bob, 'secret', 'now I can');
    await heard(alice, 'secret', 'now I can');

    alice.sendRaw(`<message to='secret@${SERVICE}'><x xmlns='${USER}'><invite to='dave@localhost'><reason>join us</reason></invite></x></message>`);
    const invite = await dave.next((e) => e.name === 'message' && e.getChild('x', USER) !== undefined);
    assert.equal(invite.attrs.from, `secret@${SERVICE}`);
    const x = invite.getChild('x', USER)!;
    assert.equal(x.getChild('invite')!.attrs.from, 'alice@localhost');
    assert.equal(x.getChild('invite')!.getChildText('reason'), 'join us');
    assert.equal(x.getChildText('password'), 'sesame');
    // A direct invitation (XEP-0249) is an ordinary message between users.
    bob.sendRaw(`<message to='dave@localhost/pw'><x xmlns='jabber:x:conference' jid='secret@${SERVICE}' password='sesame'/></message>`);
    const direct = await dave.next((e) => e.name === 'message' && e.getChild('x', 'jabber:x:conference') !== undefined);
    assert.equal(direct.attrs.from, 'bob@localhost/pw');
  });

  test('destroy and the temporary room that vanishes with its last occupant', async () => {
    const alice = await connect('alice', 'end');
    const bob = await connect('bob', 'end');
    await createRoom(alice, 'doomed', 'alice');
    await joined(bob, 'doomed', 'bob');
    assert.equal((await owner(alice, 'doomed', `<destroy jid='lobby@${SERVICE}'><reason>moved</reason></destroy>`)).attrs.type, 'result');
    const out = await bob.next((e) => e.name === 'presence' && e.attrs.type === 'unavailable');
    const destroy = out.getChild('x', USER)!.getChild('destroy')!;
    assert.equal(destroy.attrs.jid, `lobby@${SERVICE}`);
    assert.equal(destroy.getChildText('reason'), 'moved');
    assert.equal(stanzaError(await alice.iq('get', `<query xmlns='${NS.discoInfo}'/>`, { to: `doomed@${SERVICE}` })).condition, 'item-not-found');

    await createRoom(alice, 'brief', 'alice');
    alice.sendRaw(`<presence to='brief@${SERVICE}/alice' type='unavailable'/>`);
    await alice.next((e) => e.name === 'presence' && e.attrs.type === 'unavailable');
    assert.equal(stanzaError(await alice.iq('get', `<query xmlns='${NS.discoInfo}'/>`, { to: `brief@${SERVICE}` })).condition, 'item-not-found');
  });

  test('limits: rooms per user, occupants per room, oversized subject and room name, bad history request', async () => {
    const erin = await connect('erin', 'lim');
    const bob = await connect('bob', 'lim');
    const dave = await connect('dave', 'lim');
    await createRoom(erin, 'small', 'erin', { maxusers: '2' });
    await joined(bob, 'small', 'bob');
    const full = await join(dave, 'small', 'dave');
    assert.equal(stanzaError(full).condition, 'service-unavailable');
    assert.match(stanzaError(full).text ?? '', /full/);

    erin.sendRaw(`<message to='small@${SERVICE}' type='groupchat'><subject>${'s'.repeat(51)}</subject></message>`);
    assert.equal(stanzaError(await errorFrom(erin, `small@${SERVICE}`)).condition, 'not-acceptable');
    const longName = await join(erin, 'r'.repeat(31), 'erin');
    assert.equal(stanzaError(longName).condition, 'not-acceptable');
    const badHistory = await join(dave, 'newroom', 'dave', `<history maxstanzas='lots'/>`);
    assert.equal(stanzaError(badHistory).condition, 'bad-request');
    assert.equal(
      stanzaError(await dave.iq('get', `<query xmlns='${NS.discoInfo}'/>`, { to: `newroom@${SERVICE}` })).condition,
      'item-not-found',
      'no room was created',
    );

    for (let i = 2; i <= 6; i++) await joined(erin, `own${i}`, 'erin');
    const tooMany = await join(erin, 'own7', 'erin');
    assert.equal(stanzaError(tooMany).condition, 'not-allowed');
    assert.match(stanzaError(tooMany).text ?? '', /6 rooms/);
  });
});

describe('MUC join rate', () => {
  let ts: TestServer;
  let c: RawClient;
  before(async () => {
    ts = await startTestServer({ modules: { disco: {}, roster: {}, presence: {}, muc: { join_burst: 2, joins_per_minute: 1 } } });
    const u = await ts.addUser('alice');
    c = await login({ port: ts.starttlsPort, dataDir: ts.dataDir, username: 'alice', password: u.password, resource: 'r' });
  });
  after(async () => {
    await c?.close();
    await ts?.stop();
  });

  test('joins beyond the burst are refused with resource-constraint', async () => {
    for (const room of ['a', 'b']) {
      c.sendRaw(`<presence to='${room}@${SERVICE}/me'/>`);
      await c.next((e) => e.name === 'message' && e.getChild('subject') !== undefined);
    }
    c.sendRaw(`<presence to='c@${SERVICE}/me'/>`);
    const refused = await c.next((e) => e.attrs.type === 'error');
    assert.equal(stanzaError(refused).condition, 'resource-constraint');
    assert.match(stanzaError(refused).text ?? '', /too quickly/);
  });
});
