#!/usr/bin/python3
"""slixmpp (Debian python3-slixmpp) as a Palisade client, for the integration tests.

Run with Debian's /usr/bin/python3. Everything comes from the environment:
  XMPP_HOST, XMPP_PORT      where to connect (an IP address is fine)
  XMPP_JID, XMPP_PASSWORD   the account (a full JID asks for that resource)
  XMPP_CA                   PEM file to trust (verification stays on)
  XMPP_DIRECT_TLS           "1": TLS from the first byte (XEP-0368), else STARTTLS
  XMPP_PEER                 optional: send XMPP_BODY to this JID, then wait for
                            a message back from that account (any resource)
  XMPP_BODY                 the body to send
  XMPP_USE_MECHS            optional, comma-separated: restrict slixmpp's choice
  XMPP_TIMEOUT              seconds for the whole run (default 15)
  XMPP_DEBUG                "1": slixmpp's debug log on stderr

Prints one JSON object on stdout: ok, error, jid, mechanism, channel_binding (the
gs2 header's cb flag, e.g. "p=tls-unique", "y", "n"), tls_version, the SASL
failures seen (mechanism + condition), and the message received back.
"""
import asyncio
import json
import logging
import os
import sys

import slixmpp

env = os.environ


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.result = {
            'ok': False,
            'error': None,
            'library': 'slixmpp ' + slixmpp.__version__,
            'jid': None,
            'mechanism': None,
            'channel_binding': None,
            'tls_version': None,
            'sasl_failures': [],
            'received': None,
        }
        self.done = asyncio.get_running_loop().create_future()
        self.peer = env.get('XMPP_PEER')
        self.add_event_handler('auth_success', self.on_auth_success)
        self.add_event_handler('failed_auth', self.on_failed_auth)
        self.add_event_handler('failed_all_auth', lambda _e: self.finish('all SASL mechanisms failed'))
        self.add_event_handler('no_auth', lambda _e: self.finish('no acceptable SASL mechanism'))
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('message', self.on_message)
        self.add_event_handler('disconnected', lambda _e: self.finish('disconnected'))
        self.add_event_handler('connection_failed', lambda e: self.finish('connection failed: %s' % e))
        self.add_event_handler('ssl_invalid_chain', lambda e: self.finish('invalid certificate chain: %s' % e))
        self.add_event_handler('stream_error', lambda e: self.finish('stream error: %s' % e['condition']))

    def mech(self):
        return self['feature_mechanisms'].mech

    def on_failed_auth(self, stanza):
        mech = self.mech()
        self.result['sasl_failures'].append({
            'mechanism': mech.name if mech else None,
            'channel_binding': self.gs2_flag(mech),
            'condition': stanza['condition'],
            'text': stanza['text'],
        })

    @staticmethod
    def gs2_flag(mech):
        header = getattr(mech, 'gs2_header', None)
        return header.split(b',')[0].decode() if header else None

    def on_auth_success(self, _stanza):
        mech = self.mech()
        self.result['mechanism'] = mech.name
        self.result['channel_binding'] = self.gs2_flag(mech)
        sock = self.socket
        if hasattr(sock, 'version'):
            self.result['tls_version'] = sock.version()

    async def on_session_start(self, _event):
        self.result['jid'] = str(self.boundjid)
        self.send_presence()
        if not self.peer:
            self.result['ok'] = True
            self.finish(None)
            return
        self.send_message(mto=self.peer, mbody=env.get('XMPP_BODY', 'hello'), mtype='chat')

    def on_message(self, msg):
        if msg['type'] == 'error' or not self.peer:
            return
        if msg['from'].bare != slixmpp.JID(self.peer).bare:
            return
        self.result['received'] = {'from': str(msg['from']), 'to': str(msg['to']), 'type': msg['type'], 'body': msg['body']}
        self.result['ok'] = True
        self.finish(None)

    def finish(self, error):
        if self.done.done():
            return
        if error and not self.result['ok']:
            self.result['error'] = error
        self.done.set_result(None)


async def main():
    if env.get('XMPP_DEBUG') == '1':
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format='%(levelname)-8s %(message)s')
    client = Client(env['XMPP_JID'], env['XMPP_PASSWORD'])
    client.ca_certs = env['XMPP_CA']
    if env.get('XMPP_USE_MECHS'):
        client['feature_mechanisms'].use_mechs = set(env['XMPP_USE_MECHS'].split(','))
    direct = env.get('XMPP_DIRECT_TLS') == '1'
    client.connect((env['XMPP_HOST'], int(env['XMPP_PORT'])), use_ssl=direct, force_starttls=not direct)
    try:
        await asyncio.wait_for(client.done, float(env.get('XMPP_TIMEOUT', '15')))
    except asyncio.TimeoutError:
        client.result['error'] = client.result['error'] or 'timeout'
    print(json.dumps(client.result), flush=True)
    client.disconnect(wait=1.0)
    try:
        await asyncio.wait_for(client.disconnected, 2)
    except (asyncio.TimeoutError, Exception):
        pass


if __name__ == '__main__':
    asyncio.run(main())
