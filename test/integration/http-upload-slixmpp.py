#!/usr/bin/python3
"""slixmpp (Debian python3-slixmpp, python3-aiohttp) with its XEP-0363 plugin
against Palisade's upload service, for test/integration/http-upload.clients.test.ts.
Run with Debian's /usr/bin/python3.

Environment:
  XMPP_HOST, XMPP_PORT      where to connect (STARTTLS)
  XMPP_JID, XMPP_PASSWORD   the account
  XMPP_CA                   PEM file to trust for XMPP (verification stays on);
                            for HTTPS, aiohttp's default context reads
                            SSL_CERT_FILE, which the test sets to the same file
  XMPP_FILE                 the file to upload
  XMPP_TIMEOUT              seconds for the whole run (default 20)

Steps: find the service through disco (store/file identity and its
max-file-size form), then the plugin's upload_file: request a slot, PUT the file; then GET the URL; print one
JSON object: ok, error, url, max_file_size, downloaded (hex sha256), status.
"""
import asyncio
import hashlib
import os

import aiohttp
import slixmpp
from slixmpp_run import run

env = os.environ


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        for plugin in ('xep_0030', 'xep_0128', 'xep_0363'):
            self.register_plugin(plugin)
        self.result = {'ok': False, 'error': None, 'library': 'slixmpp ' + slixmpp.__version__}
        self.done = asyncio.get_running_loop().create_future()
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

    async def discover(self):
        """What xep_0363's find_upload_service does (store/file identity, the
        feature, max-file-size from the form), step by step: its
        get_info_from_domain passes coroutines to asyncio.wait, which Python 3.11
        refuses (slixmpp 1.8.3 on Debian 12)."""
        items = await self['xep_0030'].get_items(jid=self.boundjid.domain, timeout=5)
        for jid, _node, _name in items['disco_items']['items']:
            info = (await self['xep_0030'].get_info(jid=jid, timeout=5))['disco_info']
            if ('store', 'file') in [(i[0], i[1]) for i in info['identities']] \
                    and 'urn:xmpp:http:upload:0' in info['features']:
                for form in info.iterables:
                    values = form['values']
                    if values.get('FORM_TYPE') == ['urn:xmpp:http:upload:0']:
                        self['xep_0363'].max_file_size = int(values['max-file-size'])
                self['xep_0363'].upload_service = jid
                return
        raise RuntimeError('no upload service found through disco')

    async def run(self):
        await self.discover()
        path = env['XMPP_FILE']
        with open(path, 'rb') as f:
            url = await self['xep_0363'].upload_file(
                os.path.basename(path), size=os.path.getsize(path), content_type='application/pdf',
                input_file=f, timeout=10)
        self.result['url'] = url
        self.result['max_file_size'] = self['xep_0363'].max_file_size
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as response:
                self.result['status'] = response.status
                self.result['disposition'] = response.headers.get('Content-Disposition')
                self.result['downloaded'] = hashlib.sha256(await response.read()).hexdigest()

    def finish(self, error):
        if self.done.done():
            return
        if error and not self.result['ok']:
            self.result['error'] = error
        self.done.set_result(None)


run(Client, 20)
