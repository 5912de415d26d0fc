#!/usr/bin/python3
"""slixmpp (Debian python3-slixmpp) as a remote-controlled roster/presence client
for test/integration/roster.clients.test.ts. Run with Debian's /usr/bin/python3.

Environment: XMPP_HOST, XMPP_PORT, XMPP_JID (full JID), XMPP_PASSWORD, XMPP_CA
(PEM to trust; verification stays on), XMPP_DEBUG=1 for slixmpp's log on stderr.

Commands arrive on stdin, one JSON object per line; events leave on stdout, one
JSON object per line. Subscription requests are NOT answered automatically
(auto_authorize = None, auto_subscribe = False): the test decides.

  {"cmd": "roster", "ver": "12"|null}   roster get through slixmpp's get_roster()
                                          (with 'ver' when given: XEP-0237)
  {"cmd": "presence", "to"?, "type"?, "show"?, "status"?}   send_presence()
  {"cmd": "subscribe"|"subscribed"|"unsubscribe"|"unsubscribed", "to": jid}
  {"cmd": "update", "jid", "name", "groups"}   update_roster()
  {"cmd": "remove", "jid"}                      del_roster_item()
  {"cmd": "quit"}                               disconnect and exit

Events: ready {jid}; presence {from, to, type, show, status}; push {ver, items};
roster {ver, items, empty} (answer to "roster"); error {message}; done {id};
roster items are {jid, subscription, ask, approved, name, groups}.
"""
import asyncio
import json
import logging
import os
import sys

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import StanzaPath

env = os.environ


def emit(event, **data):
    data['event'] = event
    sys.stdout.write(json.dumps(data) + '\n')
    sys.stdout.flush()


def items_of(roster_stanza):
    out = []
    for jid, item in roster_stanza['items'].items():
        out.append({
            'jid': str(jid),
            'subscription': item['subscription'],
            'ask': item['ask'] or None,
            'approved': item['approved'] or None,
            'name': item['name'] or None,
            'groups': sorted(item['groups']),
        })
    return sorted(out, key=lambda i: i['jid'])


class Driver(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        self.auto_authorize = None
        self.auto_subscribe = False
        self.ready = asyncio.get_running_loop().create_future()
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('disconnected', lambda _e: emit('disconnected'))
        self.add_event_handler('connection_failed', lambda e: emit('error', message='connection failed: %s' % e))
        self.add_event_handler('stream_error', lambda e: emit('error', message='stream error: %s' % e['condition']))
        self.add_event_handler('failed_all_auth', lambda _e: emit('error', message='authentication failed'))
        # slixmpp names an available presence's event after its <show/> (presence_away …).
        for kind in ('available', 'away', 'chat', 'dnd', 'xa', 'unavailable', 'subscribe', 'subscribed', 'unsubscribe', 'unsubscribed', 'error'):
            self.add_event_handler('presence_' + kind, self.on_presence)
        # Roster pushes as they arrive (before slixmpp's own handler answers them).
        self.register_handler(Callback('push watcher', StanzaPath('iq@type=set/roster'), self.on_push))

    async def on_session_start(self, _event):
        emit('ready', jid=str(self.boundjid))
        if not self.ready.done():
            self.ready.set_result(None)

    def on_presence(self, pres):
        delay = pres.xml.find('{urn:xmpp:delay}delay')
        emit('presence', **{
            'from': str(pres['from']),
            'to': str(pres['to']),
            'type': pres.xml.get('type', 'available'),
            'show': pres['show'] or None,
            'status': pres['status'] or None,
            'delay': delay.get('stamp') if delay is not None else None,
        })

    def on_push(self, iq):
        emit('push', ver=iq['roster']['ver'] or None, items=items_of(iq['roster']))

    async def run_command(self, c):
        cmd = c['cmd']
        if cmd == 'roster':
            if c.get('ver') is not None:
                # slixmpp sends 'ver' only when the server announced
                # urn:xmpp:features:rosterver, which this asserts.
                if 'rosterver' not in self.features:
                    emit('error', message='the server did not announce roster versioning')
                self.client_roster.version = c['ver']
            result = await self.get_roster()
            query = result.xml.find('{jabber:iq:roster}query')
            emit('roster', ver=result['roster']['ver'] or None, items=items_of(result['roster']), empty=query is None)
        elif cmd == 'presence':
            kwargs = {}
            for key, arg in (('to', 'pto'), ('type', 'ptype'), ('show', 'pshow'), ('status', 'pstatus')):
                if c.get(key):
                    kwargs[arg] = c[key]
            self.send_presence(**kwargs)
        elif cmd in ('subscribe', 'subscribed', 'unsubscribe', 'unsubscribed'):
            self.send_presence(pto=c['to'], ptype=cmd)
        elif cmd == 'update':
            await self.update_roster(c['jid'], name=c.get('name'), groups=c.get('groups', []))
        elif cmd == 'remove':
            await self.del_roster_item(c['jid'])
        elif cmd == 'quit':
            self.disconnect(wait=1.0)
            return False
        else:
            emit('error', message='unknown command %s' % cmd)
        return True


async def main():
    if env.get('XMPP_DEBUG') == '1':
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format='%(levelname)-8s %(message)s')
    xmpp = Driver(env['XMPP_JID'], env['XMPP_PASSWORD'])
    xmpp.ca_certs = env['XMPP_CA']
    # The server offers no channel binding in these tests (see slixmpp.clients.test.ts).
    xmpp.connect((env['XMPP_HOST'], int(env['XMPP_PORT'])), force_starttls=True)
    await asyncio.wait_for(xmpp.ready, 20)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = await reader.readline()
        if not line:
            break
        c = json.loads(line)
        try:
            keep = await xmpp.run_command(c)
        except Exception as e:  # report, keep going: the test decides
            emit('error', message='%s: %s' % (type(e).__name__, e))
            keep = True
        emit('done', id=c.get('id'))
        if not keep:
            break
    try:
        await asyncio.wait_for(xmpp.disconnected, 3)
    except Exception:
        pass


if __name__ == '__main__':
    asyncio.run(main())
