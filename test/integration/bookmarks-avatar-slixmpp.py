#!/usr/bin/python3
"""slixmpp (Debian python3-slixmpp) with its XEP-0048 and XEP-0084 plugins
against Palisade's bookmarks and avatar-sync modules, for
test/integration/bookmarks-avatar.clients.test.ts. Run with Debian's
/usr/bin/python3.

Environment:
  XMPP_HOST, XMPP_PORT      where to connect (STARTTLS)
  XMPP_JID, XMPP_PASSWORD   the account (a full JID asks for that resource)
  XMPP_CA                   PEM file to trust (verification stays on)
  XMPP_MODE                 store-bookmarks: XEP-0048 set_bookmarks through
                              private storage (XEP-0049) of XMPP_BOOKMARKS, a
                              JSON list of {jid, nick, name, autojoin}
                            read-bookmarks: XEP-0048 get_bookmarks through
                              private storage and through PEP (XEP-0223)
                            publish-avatar: XEP-0084 publish_avatar of the
                              base64 image XMPP_AVATAR, then its metadata
                              (type image/png), both with access_model open
  XMPP_TIMEOUT              seconds for the whole run (default 20)

Prints one JSON object: ok, error, and what the mode read or published.
"""
import asyncio
import base64
import json
import os

import slixmpp
from slixmpp_run import run

env = os.environ


def conferences(storage):
    return [{'jid': str(c['jid']), 'name': c['name'], 'autojoin': c['autojoin'], 'nick': c['nick']}
            for c in storage['conferences']]


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        for plugin in ('xep_0004', 'xep_0030', 'xep_0060', 'xep_0163', 'xep_0048', 'xep_0084'):
            self.register_plugin(plugin)
        self.result = {'ok': False, 'error': None, 'library': 'slixmpp ' + slixmpp.__version__}
        self.done = asyncio.get_running_loop().create_future()
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('disconnected', lambda _e: self.finish('disconnected'))
        self.add_event_handler('failed_all_auth', lambda _e: self.finish('all SASL mechanisms failed'))
        self.add_event_handler('connection_failed', lambda e: self.finish('connection failed: %s' % e))

    async def on_session_start(self, _event):
        try:
            await getattr(self, env['XMPP_MODE'].replace('-', '_'))()
            self.result['ok'] = True
            self.finish(None)
        except Exception as e:  # reported, not raised: the test prints it
            self.finish('%s: %s' % (type(e).__name__, e))

    async def store_bookmarks(self):
        bookmarks = self['xep_0048'].stanza.Bookmarks()
        for c in json.loads(env['XMPP_BOOKMARKS']):
            bookmarks.add_conference(c['jid'], c['nick'], name=c['name'], autojoin=c['autojoin'])
        await self['xep_0048'].set_bookmarks(bookmarks, method='xep_0049', timeout=5)

    async def read_bookmarks(self):
        private = await self['xep_0048'].get_bookmarks(method='xep_0049', timeout=5)
        self.result['private'] = conferences(private['private']['bookmarks'])
        pep = await self['xep_0048'].get_bookmarks(method='xep_0223', timeout=5)
        items = list(pep['pubsub']['items'])
        self.result['pep_item_ids'] = [item['id'] for item in items]
        self.result['pep'] = conferences(items[0]['bookmarks']) if items else []

    async def publish_avatar(self):
        image = base64.b64decode(env['XMPP_AVATAR'])
        form = self['xep_0004'].make_form(ftype='submit')
        form.add_field(var='FORM_TYPE', ftype='hidden', value='http://jabber.org/protocol/pubsub#publish-options')
        form.add_field(var='pubsub#access_model', value='open')
        await self['xep_0084'].publish_avatar(image, options=form, timeout=5)
        avatar_id = self['xep_0084'].generate_id(image)
        info = {'id': avatar_id, 'type': 'image/png', 'bytes': len(image)}
        await self['xep_0084'].publish_avatar_metadata([info], options=form, timeout=5)
        self.result['avatar_id'] = avatar_id

    def finish(self, error):
        if self.done.done():
            return
        if error and not self.result['ok']:
            self.result['error'] = error
        self.done.set_result(None)


run(Client, 20)
