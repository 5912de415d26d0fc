// The room configuration form (XEP-0045 §10.2) and the in-memory history
// (§7.2.14): forms read into a configuration (unknown fields ignored, bad
// values refused whole), the form written back, history limits.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseElement } from '../../net/xml-stream.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { x } from '../../xmpp/element.ts';
import { parseJID } from '../../xmpp/jid.ts';
import { configFeatures, configForm, defaultConfig, NS_ROOMCONFIG, parseConfigForm } from './config.ts';
import { historyRequest } from './protocol.ts';
import { Room } from './room.ts';

const LIMITS = { maxUsers: 200, maxHistory: 50, maxNameChars: 10, maxSubjectChars: 40 };
const DEFAULTS = defaultConfig(LIMITS);

function form(fields: Record<string, string | string[]>, formType: string | null = NS_ROOMCONFIG, type = 'submit') {
  let inner = formType === null ? '' : `<field var='FORM_TYPE' type='hidden'><value>${formType}</value></field>`;
  for (const [k, v] of Object.entries(fields))
    inner += `<field var='${k}'>${[v]
      .flat()
      .map((one) => `<value>${one}</value>`)
      .join('')}</field>`;
  return parseElement(`<x xmlns='jabber:x:data' type='${type}'>${inner}</x>`);
}
const f = (name: string) => `muc#roomconfig_${name}`;

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StanzaError, String(err));
    return `${err.condition}: ${err.text ?? ''}`;
  }
  assert.fail('expected a refusal');
}

describe('muc room configuration', () => {
  test('defaults: open, public, semi-anonymous, temporary, 20 messages of history, the service maxusers', () => {
    assert.deepEqual(DEFAULTS, {
      name: '',
      description: '',
      persistent: false,
      membersOnly: false,
      password: '',
      moderated: false,
      public: true,
      whois: 'moderators',
      changeSubject: false,
      allowPm: 'anyone',
      maxUsers: 200,
      historyLength: 20,
      archive: true,
    });
    assert.equal(defaultConfig({ ...LIMITS, maxHistory: 5 }).historyLength, 5);
  });

  test('an empty submitted form (instant room) keeps the configuration; every field is read', () => {
    assert.deepEqual(parseConfigForm(form({}, null), DEFAULTS, LIMITS), DEFAULTS);
    const c = parseConfigForm(
      form({
        [f('roomname')]: 'Team',
        [f('roomdesc')]: 'Our room',
        [f('persistentroom')]: '1',
        [f('membersonly')]: 'true',
        [f('passwordprotectedroom')]: '1',
        [f('roomsecret')]: 'sesame',
        [f('moderatedroom')]: '1',
        [f('publicroom')]: '0',
        [f('whois')]: 'anyone',
        [f('changesubject')]: '1',
        [f('allowpm')]: 'moderators',
        [f('maxusers')]: '30',
        [f('historylength')]: '7',
        [f('enablearchiving')]: '0',
        'muc#roomconfig_unknown_field': 'ignored',
      }),
      DEFAULTS,
      LIMITS,
    );
    assert.deepEqual(c, {
      name: 'Team',
      description: 'Our room',
      persistent: true,
      membersOnly: true,
      password: 'sesame',
      moderated: true,
      public: false,
      whois: 'anyone',
      changeSubject: true,
      allowPm: 'moderators',
      maxUsers: 30,
      historyLength: 7,
      archive: false,
    });
    assert.deepEqual(configFeatures(c), ['muc_persistent', 'muc_membersonly', 'muc_passwordprotected', 'muc_moderated', 'muc_hidden', 'muc_nonanonymous']);
    assert.equal(parseConfigForm(form({ 'muc#maxhistoryfetch': '3' }), DEFAULTS, LIMITS).historyLength, 3, "XEP-0045's registered name");
    const unprotected = parseConfigForm(form({ [f('passwordprotectedroom')]: '0' }), c, LIMITS);
    assert.equal(unprotected.password, '', 'turning protection off drops the secret');
    assert.equal(parseConfigForm(form({ [f('roomname')]: 'Renamed' }), c, LIMITS).password, 'sesame', 'a partial form keeps the rest');
  });

  test('bad values refuse the whole form with the field named', () => {
    const cases: [Record<string, string | string[]>, RegExp][] = [
      [{ [f('persistentroom')]: 'yes' }, /^not-acceptable: 'muc#roomconfig_persistentroom' is a boolean/],
      [{ [f('whois')]: 'everyone' }, /^not-acceptable: .*one of moderators, anyone/],
      [{ [f('allowpm')]: 'all' }, /^not-acceptable/],
      [{ [f('maxusers')]: '201' }, /^not-acceptable: .*from 1 to 200/],
      [{ [f('maxusers')]: '0' }, /^not-acceptable/],
      [{ [f('historylength')]: '51' }, /^not-acceptable: .*from 0 to 50/],
      [{ [f('roomname')]: 'x'.repeat(11) }, /^not-acceptable: .*at most 10 characters/],
      [{ [f('roomdesc')]: 'x'.repeat(41) }, /^not-acceptable/],
      [{ [f('passwordprotectedroom')]: '1' }, /^not-acceptable: A password protected room needs a password/],
      [{ [f('roomname')]: ['a', 'b'] }, /^bad-request: .*one value/],
    ];
    for (const [fields, expected] of cases)
      assert.match(
        refusal(() => parseConfigForm(form(fields), DEFAULTS, LIMITS)),
        expected,
        JSON.stringify(fields),
      );
    assert.match(
      refusal(() => parseConfigForm(form({}, 'urn:other'), DEFAULTS, LIMITS)),
      /^bad-request: The form's FORM_TYPE/,
    );
    assert.match(
      refusal(() => parseConfigForm(form({}, null, 'form'), DEFAULTS, LIMITS)),
      /^bad-request/,
    );
  });

  test('the form written back carries every field with the current values', () => {
    const written = configForm({ ...DEFAULTS, name: 'Lobby', password: 'pw', maxUsers: 9 });
    const fields = new Map(written.getChildren('field').map((el) => [el.attrs.var, el.getChildren('value').map((v) => v.text)]));
    assert.deepEqual(fields.get('FORM_TYPE'), [NS_ROOMCONFIG]);
    assert.deepEqual(fields.get(f('roomname')), ['Lobby']);
    assert.deepEqual(fields.get(f('passwordprotectedroom')), ['1']);
    assert.deepEqual(fields.get(f('maxusers')), ['9']);
    assert.equal(fields.size, 14);
    // What a client sends back unchanged is the same configuration.
    const echoed = parseElement(written.toString().replace('type="form"', 'type="submit"'));
    assert.deepEqual(parseConfigForm(echoed, DEFAULTS, LIMITS), { ...DEFAULTS, name: 'Lobby', password: 'pw', maxUsers: 9 });
    // Rooms can have archives only when the mam module is loaded: then the form offers the switch.
    const archived = configForm({ ...DEFAULTS, archive: false }, true).getChildren('field');
    assert.deepEqual(archived.find((el) => el.attrs.var === f('enablearchiving'))?.getChildren('value').map((v) => v.text), ['0']);
  });
});

describe('muc history', () => {
  const room = new Room(parseJID('r@conference.example.org'), 'a@example.org', { ...DEFAULTS, historyLength: 4 }, false);
  const t0 = new Date('2024-01-01T00:00:00Z');
  for (let i = 1; i <= 6; i++)
    room.record(x('message', { type: 'groupchat', from: 'r@conference.example.org/a' }, x('body').t(`m${i}`)), new Date(t0.getTime() + i * 60_000));
  const bodies = (req: Parameters<Room['historyFor']>[0], now = new Date(t0.getTime() + 7 * 60_000)) =>
    room.historyFor(req, now).map((e) => e.message.getChildText('body'));

  test('keeps historylength messages; maxstanzas, maxchars, seconds and since narrow them', () => {
    assert.deepEqual(bodies({}), ['m3', 'm4', 'm5', 'm6']);
    assert.deepEqual(bodies({ maxStanzas: 2 }), ['m5', 'm6']);
    assert.deepEqual(bodies({ maxStanzas: 0 }), []);
    const one = room.historyFor({}, new Date())[0]!.chars;
    assert.deepEqual(bodies({ maxChars: one * 2 + 1 }), ['m5', 'm6']);
    assert.deepEqual(bodies({ maxChars: 0 }), []);
    assert.deepEqual(bodies({ seconds: 150 }), ['m5', 'm6']);
    assert.deepEqual(bodies({ since: new Date(t0.getTime() + 4 * 60_000) }), ['m5', 'm6']);
    assert.deepEqual(bodies({ since: new Date(t0.getTime() + 3 * 60_000), maxStanzas: 1 }), ['m6']);
    room.config = { ...room.config, historyLength: 1 };
    room.trimHistory();
    assert.deepEqual(bodies({}), ['m6']);
  });

  test('history requests are read strictly', () => {
    assert.deepEqual(historyRequest(undefined), {});
    assert.deepEqual(historyRequest(parseElement(`<history maxstanzas='5' maxchars='0' seconds='30' since='2024-01-01T00:00:00Z'/>`)), {
      maxStanzas: 5,
      maxChars: 0,
      seconds: 30,
      since: new Date('2024-01-01T00:00:00Z'),
    });
    assert.match(
      refusal(() => historyRequest(parseElement(`<history maxstanzas='-1'/>`))),
      /^bad-request: .*'maxstanzas' is a whole number/,
    );
    assert.match(
      refusal(() => historyRequest(parseElement(`<history since='yesterday'/>`))),
      /^bad-request: .*XEP-0082/,
    );
  });
});

describe('muc module options', () => {
  test('defaults, and a subdomain that is not a domain refused at validation', async () => {
    const { default: muc } = await import('./index.ts');
    const schema = muc.options!;
    const defaults = schema.parse({});
    assert.equal(defaults.subdomain, null);
    assert.equal(defaults.max_users, 200);
    assert.equal(defaults.max_rooms_per_user, 100);
    assert.equal(schema.parse({ subdomain: 'rooms.example.org' }).subdomain, 'rooms.example.org');
    for (const bad of ['room@example.org', 'example.org/x', 'exa mple.org']) assert.equal(schema.safeParse({ subdomain: bad }).success, false, bad);
    assert.equal(schema.safeParse({ max_user: 3 }).success, false, 'unknown keys are refused');
  });
});
