#!/usr/bin/python3
"""slixmpp (Debian python3-slixmpp) with its XEP-0065 plugin sending a file
through Palisade's SOCKS5 proxy, for test/integration/p2p.clients.test.ts.
Run with Debian's /usr/bin/python3.

Environment:
  XMPP_HOST, XMPP_PORT      where to connect (STARTTLS)
  XMPP_JID, XMPP_PASSWORD   the account (a full JID)
  XMPP_CA                   PEM file to trust
  XMPP_ROLE                 'send' or 'receive'
  XMPP_PEER                 (send) the receiver's full JID
  XMPP_FILE                 (send) the file to send
  XMPP_TIMEOUT              seconds for the whole run (default 30)

The sender finds the proxy through disco (the plugin's discover_proxies: a
proxy/bytestreams identity, then its streamhost), offers the bytestream,
connects, activates and writes the file. The receiver accepts every offer,
records the streamhosts it was offered, and counts what arrives until the
stream closes. Each prints one JSON object: ok, error, and for the receiver
streamhosts, size and sha256 of what it received.
"""
import asyncio
import hashlib
import os

import slixmpp
from slixmpp_run import run

env = os.environ
CHUNK = 64 * 1024


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.register_plugin('xep_0030')
        self.register_plugin('xep_0065', {'auto_accept': True})
        self.result = {'ok': False, 'error': None, 'library': 'slixmpp ' + slixmpp.__version__}
        self.done = asyncio.get_running_loop().create_future()
        self.digest = hashlib.sha256()
        self.size = 0
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('disconnected', lambda _e: self.finish('disconnected'))
        self.add_event_handler('failed_all_auth', lambda _e: self.finish('all SASL mechanisms failed'))
        self.add_event_handler('connection_failed', lambda e: self.finish('connection failed: %s' % e))

    async def on_session_start(self, _event):
        try:
            if env['XMPP_ROLE'] == 'send':
                await self.send_file()
                self.result['ok'] = True
                self.finish(None)
            else:
                self.receive()
        except Exception as e:  # reported, not raised: the test prints it
            self.finish('%s: %s' % (type(e).__name__, e))

    async def send_file(self):
        sock = await self['xep_0065'].handshake(env['XMPP_PEER'], timeout=10)
        if sock is None:
            raise RuntimeError('no bytestream: the proxy was not used')
        self.result['proxies'] = [str(j) for j in self['xep_0065']._proxies]
        with open(env['XMPP_FILE'], 'rb') as f:
            while True:
                chunk = f.read(CHUNK)
                if not chunk:
                    break
                await sock.write(chunk)
        # asyncio flushes what is buffered before it closes.
        sock.transport.close()

    def receive(self):
        def authorized(jid, sid, ifrom, iq):
            self.result['streamhosts'] = [
                {'jid': str(h['jid']), 'host': h['host'], 'port': str(h['port'])} for h in iq['socks']['streamhosts']]
            return True
        self['xep_0065'].api.register(authorized, 'authorized')
        self.add_event_handler('socks5_data', self.on_data)
        self.add_event_handler('socks5_closed', self.on_closed)
        self.send_presence()
        self.result['ready'] = True

    def on_data(self, data):
        self.digest.update(data)
        self.size += len(data)

    def on_closed(self, _exc):
        self.result['size'] = self.size
        self.result['sha256'] = self.digest.hexdigest()
        self.result['ok'] = True
        self.finish(None)

    def finish(self, error):
        if self.done.done():
            return
        if error and not self.result['ok']:
            self.result['error'] = error
        self.done.set_result(None)


run(Client, int(env.get('XMPP_TIMEOUT', '30')))
