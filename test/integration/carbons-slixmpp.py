#!/usr/bin/python3
"""slixmpp (Debian python3-slixmpp) with its XEP-0280 plugin against Palisade,
for test/integration/carbons.clients.test.ts. Run with Debian's /usr/bin/python3.

Environment:
  XMPP_HOST, XMPP_PORT      where to connect (STARTTLS)
  XMPP_JID, XMPP_PASSWORD   the account (a full JID asks for that resource)
  XMPP_CA                   PEM file to trust (verification stays on)
  XMPP_PEER                 a contact (bare JID): once carbons are enabled, the
                            client writes "slix ready" to it, then waits for one
                            received and one sent carbon (the plugin's events,
                            which it fires only for carbons from the own bare JID)
  XMPP_TIMEOUT              seconds for the whole run (default 15)

Prints one JSON object on stdout: ok, error, the server's disco#info features
and, for each carbon, the wrapper's 'from' and the forwarded message's
from, to and body.
"""
import asyncio
import os

import slixmpp
from slixmpp_run import run

env = os.environ


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.register_plugin('xep_0030')
        self.register_plugin('xep_0297')
        self.register_plugin('xep_0280')
        self.result = {'ok': False, 'error': None, 'library': 'slixmpp ' + slixmpp.__version__,
                       'features': [], 'received': None, 'sent': None}
        self.done = asyncio.get_running_loop().create_future()
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('carbon_received', lambda msg: self.on_carbon('received', msg['carbon_received'], msg))
        self.add_event_handler('carbon_sent', lambda msg: self.on_carbon('sent', msg['carbon_sent'], msg))
        self.add_event_handler('disconnected', lambda _e: self.finish('disconnected'))
        self.add_event_handler('failed_all_auth', lambda _e: self.finish('all SASL mechanisms failed'))
        self.add_event_handler('connection_failed', lambda e: self.finish('connection failed: %s' % e))

    async def on_session_start(self, _event):
        try:
            info = await self['xep_0030'].get_info(jid=self.boundjid.domain, timeout=5)
            self.result['features'] = sorted(info['disco_info']['features'])
            await self['xep_0280'].enable(timeout=5)
            self.send_presence()
            self.send_message(mto=env['XMPP_PEER'], mbody='slix ready', mtype='chat')
        except Exception as e:  # reported, not raised: the test prints it
            self.finish('%s: %s' % (type(e).__name__, e))

    def on_carbon(self, kind, inner, wrapper):
        self.result[kind] = {'wrapper_from': str(wrapper['from']), 'from': str(inner['from']),
                             'to': str(inner['to']), 'body': inner['body']}
        if self.result['received'] and self.result['sent']:
            self.result['ok'] = True
            self.finish(None)

    def finish(self, error):
        if self.done.done():
            return
        if error and not self.result['ok']:
            self.result['error'] = error
        self.done.set_result(None)


run(Client, 15)
