#!/usr/bin/python3
"""slixmpp (Debian python3-slixmpp) with its XEP-0313 and XEP-0059 plugins
against Palisade, for test/integration/mam.clients.test.ts. Run with Debian's
/usr/bin/python3.

Environment:
  XMPP_HOST, XMPP_PORT      where to connect (STARTTLS)
  XMPP_JID, XMPP_PASSWORD   the account (a full JID asks for that resource)
  XMPP_CA                   PEM file to trust (verification stays on)
  XMPP_WITH                 the 'with' filter (a bare JID)
  XMPP_MAX                  page size
  XMPP_TIMEOUT              seconds for the whole run (default 30)

Pages forward through the account's archive with the plugin's RSM iterator
(which stops at the first empty page), then takes the last page with an empty
<before/>. Prints one JSON object on stdout: ok, error, each page's RSM
summary and every result's archive id, original id and body.
"""
import asyncio
import os

import slixmpp
from slixmpp_run import run

env = os.environ


def summary(page):
    rsm = page['mam_fin']['rsm']
    return {'complete': page['mam_fin'].xml.get('complete'), 'count': int(rsm['count'] or -1),
            'first': rsm['first'], 'last': rsm['last'], 'results': len(page['mam']['results'])}


def result(msg):
    inner = msg['mam_result']['forwarded']['stanza']
    return {'archive_id': msg['mam_result']['id'], 'id': inner['id'], 'from': str(inner['from']), 'body': inner['body']}


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.register_plugin('xep_0030')
        self.register_plugin('xep_0313')
        self.result = {'ok': False, 'error': None, 'pages': [], 'messages': [], 'last_page': None}
        self.done = asyncio.get_running_loop().create_future()
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('disconnected', lambda _e: self.finish('disconnected'))
        self.add_event_handler('failed_all_auth', lambda _e: self.finish('all SASL mechanisms failed'))
        self.add_event_handler('connection_failed', lambda e: self.finish('connection failed: %s' % e))

    async def on_session_start(self, _event):
        try:
            archive = slixmpp.JID(self.boundjid.bare)
            peer = slixmpp.JID(env['XMPP_WITH'])
            size = int(env['XMPP_MAX'])
            pages = self['xep_0313'].retrieve(jid=archive, with_jid=peer, iterator=True, rsm={'max': size})
            async for page in pages:
                self.result['pages'].append(summary(page))
                self.result['messages'].extend(result(m) for m in page['mam']['results'])
            backwards = self['xep_0313'].retrieve(jid=archive, with_jid=peer, iterator=True, reverse=True, rsm={'max': size})
            async for page in backwards:
                self.result['last_page'] = dict(summary(page), bodies=[result(m)['body'] for m in page['mam']['results']])
                break
            self.result['ok'] = True
            self.finish(None)
        except Exception as e:  # reported, not raised: the test prints it
            self.finish('%s: %s' % (type(e).__name__, e))

    def finish(self, error):
        if self.done.done():
            return
        if error and not self.result['ok']:
            self.result['error'] = error
        self.done.set_result(None)


run(Client, 30)
