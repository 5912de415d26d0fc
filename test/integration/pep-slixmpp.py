#!/usr/bin/python3
"""slixmpp (Debian python3-slixmpp) with its XEP-0060/0115/0163 plugins against
Palisade's PEP, for test/integration/pep.clients.test.ts. Run with Debian's
/usr/bin/python3.

Environment:
  XMPP_HOST, XMPP_PORT      where to connect (STARTTLS)
  XMPP_JID, XMPP_PASSWORD   the account (a full JID asks for that resource)
  XMPP_CA                   PEM file to trust (verification stays on)
  XMPP_OWNER                the bare JID whose nodes are read
  XMPP_NOTIFY               JSON list of nodes to show interest in (XEP-0163
                            '+notify' in the caps slixmpp computes, XEP-0115)
  XMPP_READ                 JSON list of the owner's nodes to read (items)
  XMPP_PUBLISH              a node to publish one item to on the own account,
                            with publish-options access_model=open ('' = none)
  XMPP_TIMEOUT              seconds for the whole run (default 20)

Steps: interest, caps, initial presence; read each node; publish; tell the
owner "ready" (chat message); collect PEP notifications until the owner sends
"done"; print one JSON object: ok, error, caps ver, reads, events, publish.
"""
import asyncio
import json
import os

import slixmpp
from slixmpp.exceptions import IqError
from slixmpp_run import run

env = os.environ
PUBSUB_ERRORS = '{http://jabber.org/protocol/pubsub#errors}'


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        for plugin in ('xep_0030', 'xep_0004', 'xep_0060', 'xep_0115', 'xep_0163'):
            self.register_plugin(plugin)
        self.result = {'ok': False, 'error': None, 'library': 'slixmpp ' + slixmpp.__version__,
                       'events': [], 'reads': {}}
        self.done = asyncio.get_running_loop().create_future()
        self.owner = slixmpp.JID(env['XMPP_OWNER'])
        self.finished = asyncio.get_running_loop().create_future()
        self.add_event_handler('pubsub_publish', lambda msg: self.pep_event('publish', msg))
        self.add_event_handler('pubsub_retract', lambda msg: self.pep_event('retract', msg))
        self.add_event_handler('message', self.on_message)
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('disconnected', lambda _e: self.finish('disconnected'))
        self.add_event_handler('failed_all_auth', lambda _e: self.finish('all SASL mechanisms failed'))
        self.add_event_handler('connection_failed', lambda e: self.finish('connection failed: %s' % e))

    def pep_event(self, kind, msg):
        items = msg['pubsub_event']['items']
        # Not `for item in items`: slixmpp is iterating that very object (its
        # iterator state lives on the element) while it calls this handler.
        entries = list(items.iterables)
        self.result['events'].append({
            'kind': kind,
            'from': str(msg['from']),
            'node': items['node'],
            'ids': [item['id'] for item in entries],
            'payloads': [len(list(item.xml)) for item in entries] if kind == 'publish' else [],
            'delayed': msg.xml.find('{urn:xmpp:delay}delay') is not None,
        })

    def on_message(self, msg):
        if msg['from'].bare == self.owner.bare and msg['body'] == 'done' and not self.finished.done():
            self.finished.set_result(None)

    async def on_session_start(self, _event):
        try:
            await self.run()
            self.result['ok'] = True
            self.finish(None)
        except Exception as e:  # reported, not raised: the test prints it
            self.finish('%s: %s' % (type(e).__name__, e))

    async def run(self):
        self['xep_0163'].add_interest(json.loads(env['XMPP_NOTIFY']))
        await self['xep_0115'].update_caps(broadcast=False)
        self.result['caps_ver'] = await self['xep_0115'].get_verstring(self.boundjid)
        self.send_presence()
        for node in json.loads(env['XMPP_READ']):
            self.result['reads'][node] = await self.read(node)
        if env.get('XMPP_PUBLISH'):
            self.result['publish'] = await self.publish_open(env['XMPP_PUBLISH'])
        self.send_message(mto=self.owner, mbody='ready', mtype='chat')
        await asyncio.wait_for(self.finished, 15)

    async def read(self, node):
        try:
            r = await self['xep_0060'].get_items(self.owner, node, timeout=5)
            return {'ids': [item['id'] for item in r['pubsub']['items']]}
        except IqError as e:
            app = [c.tag.replace(PUBSUB_ERRORS, '') for c in e.iq['error'].xml if c.tag.startswith(PUBSUB_ERRORS)]
            return {'error': e.iq['error']['condition'], 'app': app[0] if app else None}

    async def publish_open(self, node):
        form = self['xep_0004'].make_form(ftype='submit')
        form.add_field(var='FORM_TYPE', ftype='hidden', value='http://jabber.org/protocol/pubsub#publish-options')
        form.add_field(var='pubsub#access_model', value='open')
        payload = slixmpp.xmlstream.ET.fromstring(
            "<devices xmlns='urn:xmpp:omemo:2'><device id='4242' label='slixmpp'/></devices>")
        r = await self['xep_0060'].publish(self.boundjid.bare, node, id='current', payload=payload,
                                           options=form, timeout=5)
        return r['pubsub']['publish']['item']['id']

    def finish(self, error):
        if self.done.done():
            return
        if error and not self.result['ok']:
            self.result['error'] = error
        self.done.set_result(None)


run(Client, 20)
