// What the MUC component does with each stanza addressed to it (XEP-0045),
// after the router has accepted, classified and decided it: the service's own
// address answers disco and ping; a room answers disco, ping, muc#admin and
// muc#owner and archive queries (XEP-0313), takes groupchat messages and
// mediated invitations; room/nick
// takes join/leave/nick presence, private messages and self-pings (XEP-0410).
import { componentResult, type RouteContext } from '../../core/module.ts';
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { JidError, parseJID, type JID } from '../../xmpp/jid.ts';
import { NS } from '../../xmpp/ns.ts';
import { stripIdsClaiming } from '../mam/archiving.ts';
import { configFeatures, configForm, NS_ROOMCONFIG, parseConfigForm } from './config.ts';
import { prepareNick } from './nick.ts';
import type { HistoryRequest, Occupant, Room } from './room.ts';
import {
  affiliationChangeRefusal,
  enforce,
  isAffiliation,
  isRole,
  listRefusal,
  mayChangeSubject,
  mayConfigure,
  maySendPrivate,
  maySpeak,
  roleChangeRefusal,
  type Actor,
} from './roles.ts';
import type { Change, MucService } from './service.ts';
import { NS_DIRECT_INVITE, NS_MUC, NS_MUC_ADMIN, NS_MUC_OWNER, NS_MUC_USER, NS_SELF_PING_OPTIMIZATION } from './stanzas.ts';

/** Invitations one message may carry. */
const MAX_INVITES = 20;

export class MucProtocol {
  private readonly service: MucService;
  private readonly name: string;

  constructor(service: MucService, name: string) {
    this.service = service;
    this.name = name;
  }

  /** The component handler: every stanza to the service or its rooms. */
  async handle(stanza: Element, route: RouteContext): Promise<void> {
    const type = stanza.attrs.type;
    // Errors are never answered (RFC 6120 §8.3.1); a bounce of what a room sent to a gone client ends here.
    if (type === 'error' || (stanza.name === 'iq' && type === 'result')) return;
    const local = route.to.local;
    if (local === '') return this.toService(stanza, route);
    await this.service.inRoom(local, () => this.toRoom(local, stanza, route));
  }

  private async toService(stanza: Element, route: RouteContext): Promise<void> {
    if (stanza.name === 'presence') return;
    if (stanza.name === 'message') throw new StanzaError('service-unavailable', `Send messages to a room (room@${this.service.domain}), not to the service.`);
    if (route.to.resource !== '') throw new StanzaError('service-unavailable');
    const payload = stanza.elements[0]!;
    if (stanza.attrs.type === 'get' && payload.name === 'query' && payload.ns === NS.discoInfo) {
      noNode(payload);
      const query = x(
        'query',
        { xmlns: NS.discoInfo },
        x('identity', {
          category: 'conference',
          type: 'text',
          name: this.name,
        }),
      );
      for (const f of [NS.discoInfo, NS.discoItems, NS_MUC, NS.ping].sort()) query.c('feature', { var: f });
      return this.reply(stanza, route, query);
    }
    if (stanza.attrs.type === 'get' && payload.name === 'query' && payload.ns === NS.discoItems) {
      noNode(payload);
      // Public rooms only; a hidden or still locked room is not listed.
      const query = x('query', { xmlns: NS.discoItems });
      for (const room of [...this.service.rooms.values()].sort((a, b) => (a.jid.local < b.jid.local ? -1 : 1))) {
        if (room.config.public && !room.locked)
          query.c('item', {
            jid: room.jid.bareString(),
            name: room.config.name || room.jid.local,
          });
      }
      return this.reply(stanza, route, query);
    }
    if (stanza.attrs.type === 'get' && payload.name === 'ping' && payload.ns === NS.ping) return this.reply(stanza, route);
    throw new StanzaError('service-unavailable');
  }

  private async toRoom(local: string, stanza: Element, route: RouteContext): Promise<void> {
    const room = this.service.rooms.get(local);
    if (stanza.name === 'presence') {
      try {
        return await this.presence(local, room, stanza, route);
      } catch (err) {
        if (!(err instanceof StanzaError)) throw err;
        // §7.2: a refused join or nick change comes back with the MUC element, which clients match it by (slixmpp does).
        const reply = x('presence', { from: route.to.toString(), to: route.from.toString(), type: 'error' }, x('x', { xmlns: NS_MUC }), err.toElement());
        if (stanza.attrs.id !== undefined) reply.attrs.id = stanza.attrs.id;
        return this.service.send(reply);
      }
    }
    if (!room) throw new StanzaError('item-not-found', `There is no room ${route.to.bareString()}.`);
    if (stanza.name === 'message') {
      return route.to.resource === '' ? this.roomMessage(room, stanza, route) : this.privateMessage(room, stanza, route);
    }
    return route.to.resource === '' ? this.roomIq(room, stanza, route) : this.occupantIq(room, stanza, route);
  }

  // --- presence ---------------------------------------------------------------

  private async presence(local: string, room: Room | undefined, stanza: Element, route: RouteContext): Promise<void> {
    const type = stanza.attrs.type;
    const occupant = room?.occupantByJid(route.from);
    if (type === 'unavailable') {
      if (room && occupant) await this.service.leave(room, occupant, stanza);
      return;
    }
    // Subscriptions and probes to a room mean nothing here.
    if (type !== undefined) return;
    const requested = route.to.resource;
    if (requested === '') throw new StanzaError('jid-malformed', 'Join a room as room@service/nickname: the nickname is missing.');
    const nick = prepareNick(requested, this.service.limits.maxNickChars);
    if (room && occupant) {
      if (occupant.nick.key === nick.key && occupant.nick.display === nick.display) return this.service.update(room, occupant, stanza);
      return this.service.changeNick(room, occupant, nick, requested, stanza);
    }
    const muc = stanza.getChild('x', NS_MUC);
    await this.service.join(local, {
      user: route.from,
      requested,
      nick,
      presence: stanza,
      mucAware: muc !== undefined,
      password: muc?.getChildText('password', NS_MUC),
      history: historyRequest(muc?.getChild('history', NS_MUC)),
    });
  }

  // --- messages ---------------------------------------------------------------

  private async roomMessage(room: Room, stanza: Element, route: RouteContext): Promise<void> {
    const sender = room.occupantByJid(route.from);
    const user = stanza.getChild('x', NS_MUC_USER);
    if (stanza.attrs.type !== 'groupchat') {
      if (user?.getChild('invite', NS_MUC_USER)) return this.invite(room, sender, user, route.from);
      if (user?.getChild('decline', NS_MUC_USER)) return this.decline(room, user, route.from);
      throw new StanzaError('bad-request', "Messages to a room are of type 'groupchat' (or carry an invitation).");
    }
    if (!sender) throw new StanzaError('not-acceptable', 'You are not in this room; join it to send messages.');
    const message = stanza.clone();
    message.attrs.from = `${room.jid.bareString()}/${sender.nick.display}`;
    delete message.attrs.to;
    // XEP-0359 §5: only the room says under which id it keeps a message.
    stripIdsClaiming(message, room.jid.bareString());
    const subject = stanza.getChild('subject');
    if (subject && !stanza.getChild('body')) {
      if (!mayChangeSubject(sender.role, room.config.changeSubject)) throw new StanzaError('forbidden', 'Only moderators may change the subject of this room.');
      return this.service.setSubject(room, sender, subject, message);
    }
    if (!maySpeak(sender.role, room.config.moderated)) throw new StanzaError('forbidden', 'This room is moderated: you need voice to speak.');
    await this.service.say(room, message);
  }

  /** §7.5: a private message to room/nick, passed on to the occupant's real JID as the sender's (decided again). */
  private async privateMessage(room: Room, stanza: Element, route: RouteContext): Promise<void> {
    if (stanza.attrs.type === 'groupchat') throw new StanzaError('bad-request', "A groupchat message goes to the room's address, not to an occupant.");
    const sender = room.occupantByJid(route.from);
    if (!sender) throw new StanzaError('not-acceptable', 'You are not in this room; join it to send private messages.');
    if (!maySendPrivate(sender.role, room.config.allowPm)) throw new StanzaError('forbidden', 'Private messages are not allowed in this room.');
    const target = room.occupants.get(prepareNick(route.to.resource, this.service.limits.maxNickChars).key);
    if (!target) throw new StanzaError('item-not-found', `No one in this room is called '${route.to.resource}'.`);
    const message = stanza.clone();
    message.attrs.from = `${room.jid.bareString()}/${sender.nick.display}`;
    message.attrs.to = target.jid.toString();
    if (!message.getChild('x', NS_MUC_USER)) message.append(x('x', { xmlns: NS_MUC_USER }));
    await this.relayed(message, route.from);
  }

  /** §7.8.2: mediated invitations, from the room to each invitee, decided as the inviter's messages. */
  private async invite(room: Room, sender: Occupant | undefined, user: Element, from: JID): Promise<void> {
    if (!sender) throw new StanzaError('not-acceptable', 'Join the room before inviting others to it.');
    const invites = user.getChildren('invite', NS_MUC_USER);
    if (invites.length > MAX_INVITES) throw new StanzaError('policy-violation', `Invite at most ${MAX_INVITES} people at once.`);
    const inviterAffiliation = room.affiliationOf(from.bareString());
    const membersOnly = room.config.membersOnly;
    if (membersOnly && inviterAffiliation !== 'owner' && inviterAffiliation !== 'admin') {
      throw new StanzaError('forbidden', 'In a members-only room, only admins and owners invite.');
    }
    const invitees = invites.map((i) => bareJidOf(i.attrs.to, "'to' of an invitation"));
    // An invitation to a members-only room makes the invitee a member (§7.8.2), unless they are more already.
    const grants: Change[] = invitees
      .filter((j) => membersOnly && room.affiliationOf(j.bareString()) === 'none')
      .map((j) => ({
        kind: 'affiliation',
        bare: j.bareString(),
        affiliation: 'member',
        reason: undefined,
      }));
    if (grants.length > 0) await this.service.apply(room, grants, sender);
    for (const [i, invitee] of invitees.entries()) {
      const reason = invites[i]!.getChildText('reason', NS_MUC_USER);
      const invite = x('invite', { from: from.bareString() });
      if (reason) invite.append(x('reason').t(reason));
      const body = `${from.bareString()} invites you to the room ${room.jid.bareString()}${reason ? `: ${reason}` : '.'}`;
      const message = x('message', { from: room.jid.bareString(), to: invitee.toString() }, x('x', { xmlns: NS_MUC_USER }, invite), x('body').t(body));
      if (room.config.password) message.getChild('x', NS_MUC_USER)!.append(x('password').t(room.config.password));
      await this.relayed(message, from);
    }
  }

  /** §7.8.2: the invitee declines; the inviter hears it from the room. */
  private async decline(room: Room, user: Element, from: JID): Promise<void> {
    const decline = user.getChild('decline', NS_MUC_USER)!;
    const inviter = bareJidOf(decline.attrs.to, "'to' of a decline");
    const out = x('decline', { from: from.bareString() });
    const reason = decline.getChildText('reason', NS_MUC_USER);
    if (reason) out.append(x('reason').t(reason));
    await this.relayed(x('message', { from: room.jid.bareString(), to: inviter.toString() }, x('x', { xmlns: NS_MUC_USER }, out)), from);
  }

  private async relayed(stanza: Element, sender: JID): Promise<void> {
    const verdict = await this.service.relay(stanza, sender);
    if (verdict.decision === 'deny' && !verdict.silent) {
      throw new StanzaError(verdict.condition ?? 'policy-violation', verdict.text ?? 'Refused by policy.', { appCondition: verdict.appCondition });
    }
  }

  // --- iq ---------------------------------------------------------------------

  private async roomIq(room: Room, iq: Element, route: RouteContext): Promise<void> {
    const payload = iq.elements[0]!;
    const type = iq.attrs.type;
    const key = `${type} ${payload.ns} ${payload.name}`;
    const archive = this.service.archive;
    if (archive && payload.ns === NS.mam) {
      switch (key) {
        case `get ${NS.mam} query`:
          return this.reply(iq, route, archive.form(room, route.from));
        case `set ${NS.mam} query`:
          // The results go out before the iq result with <fin/> (XEP-0313 §4.2).
          return this.reply(iq, route, await archive.query(room, payload, route.from, (m) => this.service.send(m)));
        case `get ${NS.mam} metadata`:
          return this.reply(iq, route, await archive.metadata(room, route.from));
      }
    }
    switch (key) {
      case `get ${NS.discoInfo} query`:
        noNode(payload);
        return this.reply(iq, route, this.roomInfo(room));
      case `get ${NS.discoItems} query`:
        // Occupants are not listed: in a semi-anonymous room that would tell who is there.
        noNode(payload);
        return this.reply(iq, route, x('query', { xmlns: NS.discoItems }));
      case `get ${NS.ping} ping`:
        return this.reply(iq, route);
      case `get ${NS_MUC_ADMIN} query`:
        return this.reply(iq, route, this.adminList(room, payload, route.from));
      case `set ${NS_MUC_ADMIN} query`:
        await this.service.apply(room, this.adminChanges(room, payload, route.from), room.occupantByJid(route.from));
        return this.reply(iq, route);
      case `get ${NS_MUC_OWNER} query`:
        this.requireOwner(room, route.from);
        return this.reply(iq, route, x('query', { xmlns: NS_MUC_OWNER }, configForm(room.config, this.service.archive !== undefined)));
      case `set ${NS_MUC_OWNER} query`:
        this.requireOwner(room, route.from);
        await this.owner(room, payload);
        return this.reply(iq, route);
      default:
        throw new StanzaError('service-unavailable');
    }
  }

  /** XEP-0410: a ping to one's own occupant JID says whether one is still in the room. */
  private async occupantIq(room: Room, iq: Element, route: RouteContext): Promise<void> {
    const payload = iq.elements[0]!;
    if (iq.attrs.type === 'get' && payload.name === 'ping' && payload.ns === NS.ping) {
      const self = room.occupantByJid(route.from);
      if (self && self.nick.key === prepareNick(route.to.resource, this.service.limits.maxNickChars).key) return this.reply(iq, route);
      throw new StanzaError('not-acceptable', 'You are not in this room under this nickname.');
    }
    throw new StanzaError('service-unavailable', 'Requests to occupants are not passed on by this service.');
  }

  private roomInfo(room: Room): Element {
    const query = x(
      'query',
      { xmlns: NS.discoInfo },
      x('identity', {
        category: 'conference',
        type: 'text',
        name: room.config.name || room.jid.local,
      }),
    );
    const features = [NS_MUC, NS.discoInfo, NS.discoItems, NS.ping, NS_SELF_PING_OPTIMIZATION, NS_DIRECT_INVITE, ...configFeatures(room.config)];
    // XEP-0313 §6.2: a room that archives says so, and that it marks messages with its ids.
    if (this.service.archives(room)) features.push(NS.mam, `${NS.mam}#extended`, NS.stanzaId);
    for (const f of features.sort()) query.c('feature', { var: f });
    if (room.config.description) {
      // XEP-0045 §15.5.4: muc#roominfo carries the description for room browsers.
      const form = query.c('x', { xmlns: NS.dataForms, type: 'result' });
      form.c('field', { var: 'FORM_TYPE', type: 'hidden' }).c('value').t('http://jabber.org/protocol/muc#roominfo');
      form.c('field', { var: 'muc#roominfo_description', label: 'Description' }).c('value').t(room.config.description);
    }
    return query;
  }

  private actor(room: Room, from: JID): Actor {
    const affiliation = room.affiliationOf(from.bareString());
    const occupant = room.occupantByJid(from);
    // An admin or owner outside the room acts as the moderator they would be inside it.
    const role = occupant?.role ?? (affiliation === 'owner' || affiliation === 'admin' ? 'moderator' : 'none');
    return { affiliation, role };
  }

  private requireOwner(room: Room, from: JID): void {
    if (!mayConfigure(room.affiliationOf(from.bareString()))) throw new StanzaError('forbidden', 'Only owners configure or destroy this room.');
  }

  /** §9.5, §8.5: the list of one affiliation or role. */
  private adminList(room: Room, query: Element, from: JID): Element {
    const items = query.getChildren('item', NS_MUC_ADMIN);
    const item = items[0];
    if (!item || items.length > 1) throw new StanzaError('bad-request', 'Ask for one list: <item affiliation=…/> or <item role=…/>.');
    const { affiliation, role } = item.attrs;
    const actor = this.actor(room, from);
    const out = x('query', { xmlns: NS_MUC_ADMIN });
    if (isAffiliation(affiliation) && affiliation !== 'none' && role === undefined) {
      enforce(listRefusal(actor, { affiliation }));
      for (const bare of room.withAffiliation(affiliation).sort()) out.c('item', { affiliation, jid: bare });
      return out;
    }
    if (isRole(role) && role !== 'none' && affiliation === undefined) {
      enforce(listRefusal(actor, { role }));
      for (const o of room.occupants.values()) {
        if (o.role === role)
          out.c('item', {
            role,
            nick: o.nick.display,
            affiliation: room.affiliationOf(o.jid.bareString()),
            jid: o.jid.toString(),
          });
      }
      return out;
    }
    throw new StanzaError('bad-request', 'Ask for the list of an affiliation (owner, admin, member, outcast) or a role (moderator, participant, visitor).');
  }

  /** §8-§10: every item of a muc#admin set, checked; nothing is applied unless all pass. */
  private adminChanges(room: Room, query: Element, from: JID): Change[] {
    const items = query.getChildren('item', NS_MUC_ADMIN);
    if (items.length === 0) throw new StanzaError('bad-request', 'Name at least one change as <item/>.');
    const actor = this.actor(room, from);
    return items.map((item): Change => {
      const { affiliation, role, nick, jid } = item.attrs;
      const reason = item.getChildText('reason', NS_MUC_ADMIN);
      if (role !== undefined && affiliation === undefined) {
        if (!isRole(role)) throw new StanzaError('bad-request', `'${role}' is not a role (moderator, participant, visitor, none).`);
        if (nick === undefined) throw new StanzaError('bad-request', 'A role change names the occupant by nick.');
        const occupant = room.occupants.get(prepareNick(nick, this.service.limits.maxNickChars).key);
        if (!occupant) throw new StanzaError('item-not-found', `No one in this room is called '${nick}'.`);
        enforce(
          roleChangeRefusal(
            actor,
            {
              affiliation: room.affiliationOf(occupant.jid.bareString()),
              role: occupant.role,
            },
            role,
          ),
        );
        return { kind: 'role', occupant, role, reason };
      }
      if (affiliation !== undefined && role === undefined) {
        if (!isAffiliation(affiliation)) throw new StanzaError('bad-request', `'${affiliation}' is not an affiliation (owner, admin, member, outcast, none).`);
        let bare: string;
        if (jid !== undefined) bare = bareJidOf(jid, "the item's 'jid'").bareString();
        else if (nick !== undefined) {
          const occupant = room.occupants.get(prepareNick(nick, this.service.limits.maxNickChars).key);
          if (!occupant) throw new StanzaError('item-not-found', `No one in this room is called '${nick}'.`);
          bare = occupant.jid.bareString();
        } else throw new StanzaError('bad-request', 'An affiliation change names the user by jid (or the occupant by nick).');
        enforce(affiliationChangeRefusal(actor.affiliation, room.affiliationOf(bare), affiliation));
        return { kind: 'affiliation', bare, affiliation, reason };
      }
      throw new StanzaError('bad-request', 'Each <item/> changes either a role (with nick) or an affiliation (with jid).');
    });
  }

  /** §10.1-§10.2, §10.9: submit or cancel the configuration, or destroy the room. */
  private async owner(room: Room, query: Element): Promise<void> {
    const destroy = query.getChild('destroy', NS_MUC_OWNER);
    if (destroy) {
      const out = x('destroy');
      if (destroy.attrs.jid !== undefined) out.attrs.jid = bareJidOf(destroy.attrs.jid, "the alternative room's 'jid'").toString();
      const reason = destroy.getChildText('reason', NS_MUC_OWNER);
      if (reason) out.append(x('reason').t(reason));
      return this.service.destroy(room, out);
    }
    const form = query.getChild('x', NS.dataForms);
    if (!form) throw new StanzaError('bad-request', `Submit the configuration as a ${NS_ROOMCONFIG} data form, or <destroy/> the room.`);
    if (form.attrs.type === 'cancel') {
      // §10.1.3: cancelling the first configuration cancels the room.
      if (room.locked) await this.service.destroy(room, x('destroy', {}, x('reason').t('The owner cancelled the room.')));
      return;
    }
    await this.service.configure(room, parseConfigForm(form, room.config, this.service.limits));
  }

  private async reply(iq: Element, route: RouteContext, payload?: Element): Promise<void> {
    await this.service.send(componentResult(iq, route, payload));
  }
}

function noNode(query: Element): void {
  if (query.attrs.node !== undefined) throw new StanzaError('item-not-found', `No such node: ${query.attrs.node}`);
}

function bareJidOf(raw: string | undefined, what: string): JID {
  if (raw === undefined || raw === '') throw new StanzaError('bad-request', `${what} is missing.`);
  try {
    return parseJID(raw).bare;
  } catch (err) {
    if (!(err instanceof JidError)) throw err;
    throw new StanzaError('jid-malformed', `${what} is not a valid address: ${err.reason}`);
  }
}

/** §7.2.14: <history maxstanzas maxchars seconds since/>; a malformed value is refused before the room changes. */
export function historyRequest(history: Element | undefined): HistoryRequest {
  const req: HistoryRequest = {};
  if (!history) return req;
  const count = (name: 'maxstanzas' | 'maxchars' | 'seconds'): number | undefined => {
    const v = history.attrs[name];
    if (v === undefined) return undefined;
    if (!/^\d{1,9}$/.test(v)) throw new StanzaError('bad-request', `The history's '${name}' is a whole number, not '${v}'.`);
    return Number(v);
  };
  const maxStanzas = count('maxstanzas');
  const maxChars = count('maxchars');
  const seconds = count('seconds');
  if (maxStanzas !== undefined) req.maxStanzas = maxStanzas;
  if (maxChars !== undefined) req.maxChars = maxChars;
  if (seconds !== undefined) req.seconds = seconds;
  const since = history.attrs.since;
  if (since !== undefined) {
    const at = new Date(since);
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(since) || Number.isNaN(at.getTime())) {
      throw new StanzaError('bad-request', `The history's 'since' is an XEP-0082 date and time, not '${since}'.`);
    }
    req.since = at;
  }
  return req;
}
