// XEP-0115 verification strings against the XEP's own examples (§5.2, §5.3),
// and the answers §5.4 says must not be accepted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseElement } from '../../net/xml-stream.ts';
import { capsVer, parseCaps } from './caps.ts';

const info = (inner: string) => parseElement(`<query xmlns='http://jabber.org/protocol/disco#info'>${inner}</query>`);

const SIMPLE = `<identity category='client' name='Exodus 0.9.1' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>`;

test('§5.2 simple example: QgayPKawpkPSDYmwT/WM94uAlu0=, whatever the order of the answer', () => {
  assert.equal(capsVer(info(SIMPLE), 'sha-1'), 'QgayPKawpkPSDYmwT/WM94uAlu0=');
  const shuffled = SIMPLE.split('\n').reverse().join('\n');
  assert.equal(capsVer(info(shuffled), 'sha-1'), 'QgayPKawpkPSDYmwT/WM94uAlu0=');
});

test('§5.3 complex example (languages, non-ASCII name, extended form): q07IKJEyjvHSyhy//CH0CxmKi8w=', () => {
  const q = info(`<identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
    <identity xml:lang='el' category='client' name='Ψ 0.11' type='pc'/>
    <feature var='http://jabber.org/protocol/caps'/>
    <feature var='http://jabber.org/protocol/disco#info'/>
    <feature var='http://jabber.org/protocol/disco#items'/>
    <feature var='http://jabber.org/protocol/muc'/>
    <x xmlns='jabber:x:data' type='result'>
      <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
      <field var='ip_version'><value>ipv4</value><value>ipv6</value></field>
      <field var='os'><value>Mac</value></field>
      <field var='os_version'><value>10.5.1</value></field>
      <field var='software'><value>Psi</value></field>
      <field var='software_version'><value>0.11</value></field>
    </x>`);
  assert.equal(capsVer(q, 'sha-1'), 'q07IKJEyjvHSyhy//CH0CxmKi8w=');
});

test('a feature added or removed changes the ver; unknown hashes and MD5 give none', () => {
  assert.notEqual(capsVer(info(SIMPLE + `<feature var='urn:xmpp:omemo:2:devices+notify'/>`), 'sha-1'), 'QgayPKawpkPSDYmwT/WM94uAlu0=');
  assert.equal(capsVer(info(SIMPLE), 'md5'), undefined);
  assert.equal(capsVer(info(SIMPLE), 'sha-3'), undefined);
  assert.match(capsVer(info(SIMPLE), 'sha-256') ?? '', /^[A-Za-z0-9+/]{43}=$/);
});

test('§5.4: duplicate identities, features or form types, or a FORM_TYPE not hidden, are not accepted', () => {
  assert.equal(capsVer(info(SIMPLE + `<identity category='client' name='Exodus 0.9.1' type='pc'/>`), 'sha-1'), undefined);
  assert.equal(capsVer(info(SIMPLE + `<feature var='http://jabber.org/protocol/muc'/>`), 'sha-1'), undefined);
  const form = (hidden: boolean) =>
    `<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE'${hidden ? " type='hidden'" : ''}><value>urn:x</value></field></x>`;
  assert.equal(capsVer(info(SIMPLE + form(true) + form(true)), 'sha-1'), undefined);
  assert.equal(capsVer(info(SIMPLE + form(false)), 'sha-1'), undefined);
  // A form without FORM_TYPE takes no part.
  assert.equal(capsVer(info(SIMPLE + `<x xmlns='jabber:x:data' type='result'><field var='a'><value>b</value></field></x>`), 'sha-1'), 'QgayPKawpkPSDYmwT/WM94uAlu0=');
});

test('caps are read from presence; incomplete <c/> is none', () => {
  const p = (c: string) => parseElement(`<presence xmlns='jabber:client'>${c}</presence>`);
  assert.deepEqual(parseCaps(p(`<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://gajim.org' ver='abc='/>`)), {
    node: 'https://gajim.org',
    ver: 'abc=',
    hash: 'sha-1',
  });
  assert.deepEqual(parseCaps(p(`<c xmlns='http://jabber.org/protocol/caps' node='n' ver='1.0'/>`)), { node: 'n', ver: '1.0', hash: undefined });
  assert.equal(parseCaps(p(`<c xmlns='http://jabber.org/protocol/caps' node='n'/>`)), undefined);
  assert.equal(parseCaps(p(`<c xmlns='urn:other' node='n' ver='v'/>`)), undefined);
  assert.equal(parseCaps(p('')), undefined);
});
