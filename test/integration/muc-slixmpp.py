#!/usr/bin/python3
"""slixmpp (Debian python3-slixmpp) with its XEP-0045 plugin against Palisade's
MUC service, for test/integration/muc.clients.test.ts. Run with Debian's
/usr/bin/python3.

The test drives this client: it sends chat messages whose body is one JSON
command from XMPP_CONTROLLER, and the client answers each with a chat message
holding a JSON reply ({"ok": true, ...} or {"ok": false, "error": condition}).
Every command uses the plugin's own API:

  join {room, nick, maxstanzas?}   join_muc_wait; reply: status codes, role,
                                   history bodies, subject
  leave {room, nick}               leave_muc
  say {room, body}                 groupchat message
  pm {room, nick, body}            private message to room/nick
  getconfig {room}                 get_room_config; reply: field values
  configure {room, fields}         get_room_config, fields set, set_room_config
  affiliations {room, items}       send_affiliation_list [[jid, affiliation]]
  role {room, nick, role}          set_role (kick with role none)
  affiliation {room, jid, affiliation}  set_affiliation (ban with outcast)
  mam {room, max, start?, single?} the room's archive through xep_0313's
                                   paging iterator; reply: per page [results,
                                   count, complete], and the messages (single:
                                   one query, reply: the count)
  events {}                        reply: private messages and removals seen
  quit {}                          print the JSON summary and disconnect

Environment: XMPP_HOST, XMPP_PORT (STARTTLS), XMPP_JID, XMPP_PASSWORD, XMPP_CA
(PEM to trust), XMPP_CONTROLLER (bare JID of the test's controller),
XMPP_TIMEOUT (seconds for the whole run, default 40).
"""
import asyncio
import datetime
import json
import os

import slixmpp
from slixmpp.exceptions import IqError, PresenceError
from slixmpp_run import run

env = os.environ


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password)
        for plugin in ('xep_0030', 'xep_0004', 'xep_0045', 'xep_0203', 'xep_0059', 'xep_0313'):
            self.register_plugin(plugin)
        self.controller = slixmpp.JID(env['XMPP_CONTROLLER'])
        self.result = {'ok': False, 'error': None, 'library': 'slixmpp ' + slixmpp.__version__, 'commands': 0}
        self.events = {'private': [], 'removed': []}
        self.done = asyncio.get_running_loop().create_future()
        self.add_event_handler('session_start', self.on_session_start)
        self.add_event_handler('message', self.on_message)
        self.add_event_handler('groupchat_presence', self.on_muc_presence)
        self.add_event_handler('disconnected', lambda _e: self.finish('disconnected'))
        self.add_event_handler('failed_all_auth', lambda _e: self.finish('all SASL mechanisms failed'))

    async def on_session_start(self, _event):
        self.send_presence()
        await self.get_roster()
        self.send_message(mto=self.controller, mbody=json.dumps({'ok': True, 'ready': True}), mtype='chat')

    def on_muc_presence(self, pr):
        codes = sorted(pr['muc']['status_codes'])
        if pr['type'] == 'unavailable' and 110 in codes:
            self.events['removed'].append({'room': str(pr['from'].bare), 'codes': codes,
                                           'reason': pr['muc']['item']['reason'] if 'item' in pr['muc'].plugins else ''})

    def on_message(self, msg):
        if msg['type'] in ('chat', 'normal') and msg['from'].bare == self.controller.bare:
            asyncio.ensure_future(self.command(json.loads(msg['body'])))
        elif msg['type'] == 'chat' and msg['body']:
            self.events['private'].append({'from': str(msg['from']), 'body': msg['body'],
                                           'muc_user': msg.xml.find('{http://jabber.org/protocol/muc#user}x') is not None})

    async def command(self, c):
        self.result['commands'] += 1
        try:
            reply = await self.run(c)
            reply['ok'] = True
        except IqError as e:
            reply = {'ok': False, 'error': e.iq['error']['condition'], 'text': e.iq['error']['text']}
        except PresenceError as e:
            reply = {'ok': False, 'error': e.presence['error']['condition'], 'text': e.presence['error']['text']}
        except Exception as e:  # reported to the test, which prints it
            reply = {'ok': False, 'error': '%s: %s' % (type(e).__name__, e)}
        reply['cmd'] = c['cmd']
        self.send_message(mto=self.controller, mbody=json.dumps(reply), mtype='chat')
        if c['cmd'] == 'quit':
            self.result['ok'] = True
            self.finish(None)

    async def run(self, c):
        muc = self['xep_0045']
        cmd = c['cmd']
        room = slixmpp.JID(c['room']) if 'room' in c else None
        if cmd == 'join':
            kwargs = {'maxstanzas': c['maxstanzas']} if 'maxstanzas' in c else {}
            pres, subject, occupants, history = await muc.join_muc_wait(room, c['nick'], timeout=5, **kwargs)
            return {'codes': sorted(pres['muc']['status_codes']), 'role': pres['muc']['role'],
                    'affiliation': pres['muc']['affiliation'], 'nick': pres['from'].resource,
                    'history': [m['body'] for m in history], 'subject': subject['subject'],
                    'occupants': sorted(p['from'].resource for p in occupants)}
        if cmd == 'leave':
            muc.leave_muc(room, c['nick'])
            return {}
        if cmd == 'say':
            self.send_message(mto=room, mbody=c['body'], mtype='groupchat')
            return {}
        if cmd == 'pm':
            self.send_message(mto='%s/%s' % (room, c['nick']), mbody=c['body'], mtype='chat')
            return {}
        if cmd == 'getconfig':
            form = await muc.get_room_config(room, timeout=5)
            return {'fields': {var: field['value'] for var, field in form.get_fields().items()}}
        if cmd == 'configure':
            form = await muc.get_room_config(room, timeout=5)
            for var, value in c['fields'].items():
                form.get_fields()[var]['value'] = value
            await muc.set_room_config(room, form, timeout=5)
            return {}
        if cmd == 'affiliations':
            await muc.send_affiliation_list(room, [(slixmpp.JID(j), a) for j, a in c['items']], timeout=5)
            return {}
        if cmd == 'role':
            await muc.set_role(room, c['nick'], c['role'], reason=c.get('reason', ''), timeout=5)
            return {}
        if cmd == 'affiliation':
            await muc.set_affiliation(room, c['affiliation'], jid=slixmpp.JID(c['jid']), reason=c.get('reason', ''), timeout=5)
            return {}
        if cmd == 'mam':
            start = datetime.datetime.fromisoformat(c['start'].replace('Z', '+00:00')) if 'start' in c else None
            if c.get('single'):
                # One query, not the iterator: the iterator ends quietly on an error, this raises it.
                page = await self['xep_0313'].retrieve(jid=room, start=start, rsm={'max': c['max']}, timeout=5)
                return {'count': int(page['mam_fin']['rsm']['count'] or -1)}
            pages, messages = [], []
            async for page in self['xep_0313'].retrieve(jid=room, start=start, iterator=True, rsm={'max': c['max']}):
                rsm = page['mam_fin']['rsm']
                pages.append([len(page['mam']['results']), int(rsm['count'] or -1), page['mam_fin'].xml.get('complete')])
                for m in page['mam']['results']:
                    inner = m['mam_result']['forwarded']['stanza']
                    messages.append({'archive': str(m['from']), 'from': str(inner['from']), 'body': inner['body']})
            return {'pages': pages, 'messages': messages}
        if cmd == 'events':
            return dict(self.events)
        if cmd == 'quit':
            return {}
        raise ValueError('unknown command %s' % cmd)

    def finish(self, error):
        if self.done.done():
            return
        if error and not self.result['ok']:
            self.result['error'] = error
        self.done.set_result(None)


run(Client, 40)
