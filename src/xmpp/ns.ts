// Every XML namespace Palisade speaks, in one place.
export const NS = {
  client: 'jabber:client',
  server: 'jabber:server',
  stream: 'http://etherx.jabber.org/streams',
  streams: 'urn:ietf:params:xml:ns:xmpp-streams',
  stanzas: 'urn:ietf:params:xml:ns:xmpp-stanzas',
  tls: 'urn:ietf:params:xml:ns:xmpp-tls',
  sasl: 'urn:ietf:params:xml:ns:xmpp-sasl',
  bind: 'urn:ietf:params:xml:ns:xmpp-bind',
  session: 'urn:ietf:params:xml:ns:xmpp-session',
  framing: 'urn:ietf:params:xml:ns:xmpp-framing',
  channelBinding: 'urn:xmpp:sasl-cb:0',
  discoInfo: 'http://jabber.org/protocol/disco#info',
  discoItems: 'http://jabber.org/protocol/disco#items',
  ping: 'urn:xmpp:ping',
  version: 'jabber:iq:version',
  xml: 'http://www.w3.org/XML/1998/namespace',
} as const;
