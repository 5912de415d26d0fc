#!/usr/bin/python3
"""slixmpp (Debian python3-slixmpp) with its XEP-0191 plugin against Palisade,
for test/integration/blocking.clients.test.ts. Run with Debian's /usr/bin/python3.

Environment:
  XMPP_HOST, XMPP_PORT      where to connect (STARTTLS)
  XMPP_JID, XMPP_PASSWORD   the account (a full JID asks for that resource)
  XMPP_CA                   PEM file to trust (verification stays on)
  XMPP_PEER                 the contact to block or unblock (a bare JID)
  XMPP_ACTION               "block": fetch the list, try an empty <block/>, block
                            the peer, wait for the push, send the peer a message
                            and wait for its error, fetch the list again.
                            "unblock": fetch the list, unblock the peer, wait for
                            the push, send the peer a message and wait for a
                            message back from it, fetch the list again.
  XMPP_TIMEOUT              seconds for the whole run (default 15)

Prints one JSON object on stdout: ok, error and what each step saw.
"""
import asyncio
import os

import slixmpp
from slixmpp.exceptions import IqError
from slixmpp_run import run

env = os.environ
ERRORS_NS = 'urn:xmpp:blocking:errors'


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.register_plugin('xep_0030')
        self.register_plugin('xep_0191')
        self.result = {'ok': False, 'error': None, 'library': 'slixmpp ' + slixmpp.__version__}
        self.done = asyncio.get_running_loop().create_future()
        self.peer = slixmpp.JID(env['XMPP_PEER'])
        self.pushes = asyncio.Queue()
        self.messages = asyncio.Queue()
        self.add_event_handler('blocked', lambda iq: self.pushes.put_nowait(['block', items(iq['block'])]))
        self.add_event_handler('unblocked', lambda iq: self.pushes.put_nowait(['unblock', items(iq['unblock'])]))
        self.add_event_handler('message', lambda msg: self.messages.put_nowait(msg))
        self.add_event_handler('message_error', lambda msg: self.messages.put_nowait(msg))
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('disconnected', lambda _e: self.finish('disconnected'))
        self.add_event_handler('failed_all_auth', lambda _e: self.finish('all SASL mechanisms failed'))
        self.add_event_handler('connection_failed', lambda e: self.finish('connection failed: %s' % e))

    async def on_session_start(self, _event):
        try:
            await self.run()
            self.result['ok'] = True
            self.finish(None)
        except Exception as e:  # reported, not raised: the test prints it
            self.finish('%s: %s' % (type(e).__name__, e))

    async def blocklist(self):
        r = await self['xep_0191'].get_blocked(timeout=5)
        return items(r['blocklist'])

    async def message(self, match):
        while True:
            msg = await asyncio.wait_for(self.messages.get(), 5)
            if match(msg):
                return msg

    async def run(self):
        self.send_presence()
        self.result['initial'] = await self.blocklist()
        if env['XMPP_ACTION'] == 'block':
            try:
                await self['xep_0191'].block([], timeout=5)
                self.result['empty_block'] = 'result'
            except IqError as e:
                self.result['empty_block'] = e.iq['error']['condition']
            await self['xep_0191'].block(self.peer, timeout=5)
            self.result['push'] = await asyncio.wait_for(self.pushes.get(), 5)
            msg = self.make_message(mto=self.peer, mbody='Are you there?', mtype='chat')
            msg['id'] = 'slix-blocked-1'
            msg.send()
            err = await self.message(lambda m: m['id'] == 'slix-blocked-1')
            self.result['reply'] = {
                'type': err['type'],
                'condition': err['error']['condition'],
                'blocked': err.xml.find('{jabber:client}error/{%s}blocked' % ERRORS_NS) is not None,
            }
        else:
            await self['xep_0191'].unblock(self.peer, timeout=5)
            self.result['push'] = await asyncio.wait_for(self.pushes.get(), 5)
            self.send_message(mto=self.peer, mbody='Hello again', mtype='chat')
            back = await self.message(lambda m: m['from'].bare == self.peer.bare)
            self.result['reply'] = {'type': back['type'], 'body': back['body']}
        self.result['final'] = await self.blocklist()

    def finish(self, error):
        if self.done.done():
            return
        if error and not self.result['ok']:
            self.result['error'] = error
        self.done.set_result(None)


def items(element):
    return sorted(str(j) for j in element['items'])


run(Client, 15)
