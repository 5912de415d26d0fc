#!/usr/bin/python3
"""slixmpp (Debian python3-slixmpp) with its XEP-0092 plugin, which answers the
server's software version query with "Slixmpp" and slixmpp's own version, for
test/integration/sessions.clients.test.ts. Run with Debian's /usr/bin/python3.

Environment: XMPP_HOST, XMPP_PORT, XMPP_JID, XMPP_PASSWORD, XMPP_CA (see
slixmpp_run.py); XMPP_WAIT: seconds to stay online after initial presence
(default 4); XMPP_TIMEOUT: seconds for the whole run.

Prints one JSON object: ok (stayed online for XMPP_WAIT), error, the stream
error the server closed the session with (condition and text), and the
headline messages received.
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
        self.register_plugin('xep_0092')
        self.result = {'ok': False, 'error': None, 'library': 'slixmpp ' + slixmpp.__version__, 'stream_error': None, 'headlines': []}
        self.done = asyncio.get_running_loop().create_future()
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('stream_error', self.on_stream_error)
        self.add_event_handler('message', self.on_message)
        self.add_event_handler('disconnected', lambda _e: self.finish('disconnected'))
        self.add_event_handler('failed_all_auth', lambda _e: self.finish('all SASL mechanisms failed'))
        self.add_event_handler('connection_failed', lambda e: self.finish('connection failed: %s' % e))

    def on_stream_error(self, error):
        self.result['stream_error'] = {'condition': error['condition'], 'text': error['text']}

    def on_message(self, msg):
        if msg['type'] == 'headline':
            self.result['headlines'].append({'from': str(msg['from']), 'body': msg['body']})

    async def on_session_start(self, _event):
        self.send_presence()
        await asyncio.sleep(float(env.get('XMPP_WAIT', '4')))
        self.result['ok'] = True
        self.finish(None)

    def finish(self, error):
        if self.done.done():
            return
        if error and not self.result['error']:
            self.result['error'] = error
        self.done.set_result(None)


run(Client, 20)
