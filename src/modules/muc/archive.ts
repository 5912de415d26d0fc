// Room archives (XEP-0313 §3.3.2, §5.1.2 on MUC rooms): a persistent room with
// archiving on keeps its groupchat messages as its occupants got them (from
// room/nick), each marked with the room's XEP-0359 stanza id before it is
// broadcast, and answers urn:xmpp:mam:2 queries addressed to the room. The
// rows are the mam module's (service 'mam': one store, group commit, paging
// and retention for every archive); who may read and what is kept is the
// room's business, decided here.
import type { Logger } from 'pino';
import type { Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { parseJID, type JID } from '../../xmpp/jid.ts';
import { hasArchivableContent, newStanzaId, stanzaIdElement, toArchivedXml } from '../mam/archiving.ts';
import { parseQuery, queryForm } from '../mam/form.ts';
import { finElement, metadataElement, pageResults } from '../mam/results.ts';
import type { MamService } from '../mam/service.ts';
import { UnknownArchiveIdError, type Owner } from '../mam/store.ts';
import type { Room } from './room.ts';

export class RoomArchive {
  readonly #mam: MamService;
  readonly #log: Logger;

  constructor(mam: MamService, log: Logger) {
    this.#mam = mam;
    this.#log = log;
  }

  /** Whether the room's messages are archived now: temporary rooms never are (their history dies with them). */
  keeps(room: Room): boolean {
    return room.config.persistent && room.config.archive;
  }

  /**
   * Archives a groupchat message as broadcast (from room/nick, no 'to') and
   * adds <stanza-id by='room'/>; resolves once the row is committed, so what
   * occupants see carries an id the archive answers to. Subject changes and
   * messages with a no-store hint are not kept.
   */
  async record(room: Room, message: Element): Promise<void> {
    if (!this.keeps(room) || message.attrs.type !== 'groupchat' || !hasArchivableContent(message)) return;
    const roomJid = room.jid.bareString();
    const stanzaId = newStanzaId();
    await this.#mam.rooms.writer.add([
      {
        owner: ownerOf(room),
        stanzaId,
        peer: roomJid,
        peerResource: parseJID(message.attrs.from!).resource,
        direction: 'in',
        storedAt: new Date(),
        xml: toArchivedXml(message),
      },
    ]);
    message.append(stanzaIdElement(stanzaId, roomJid));
  }

  /**
   * Who may read a room's archive: whoever may enter it (as Prosody's
   * mod_muc_mam), so never an outcast, and in a members-only room only
   * members, admins and owners; a password protected room only to those
   * affiliated with it or in it now. Throws the refusal.
   */
  mayRead(room: Room, user: JID): void {
    const affiliation = room.affiliationOf(user.bareString());
    if (room.locked && affiliation !== 'owner') throw new StanzaError('item-not-found', 'This room is being set up; it opens when its owner has configured it.');
    if (affiliation === 'outcast') throw new StanzaError('forbidden', 'You are banned from this room.');
    if (affiliation !== 'none' || room.occupantByJid(user)) return;
    if (room.config.membersOnly) throw new StanzaError('forbidden', "This room's archive is for its members.");
    if (room.config.password !== '') throw new StanzaError('forbidden', 'Enter the room (with its password) to read its archive.');
  }

  form(room: Room, user: JID): Element {
    this.mayRead(room, user);
    return queryForm();
  }

  /** A query (XEP-0313 §4): the results go to `user` from the room, then the <fin/> for the iq result. */
  async query(room: Room, query: Element, user: JID, send: (stanza: Element) => Promise<void>): Promise<Element> {
    this.mayRead(room, user);
    const q = parseQuery(query, this.#mam.limits);
    const roomJid = room.jid.bareString();
    const page = await this.#mam.rooms.store.query(ownerOf(room), q.filter, q.paging).catch((err: unknown) => {
      if (err instanceof UnknownArchiveIdError) throw new StanzaError('item-not-found', `There is no message with the id '${err.stanzaId}' in the archive of ${roomJid}.`);
      throw err;
    });
    const results = pageResults(page.items, {
      flip: q.flip,
      to: user.toString(),
      archive: roomJid,
      queryId: q.queryId,
      unreadable: (item, reason) => this.#log.error({ id: item.stanzaId, room: roomJid, reason }, 'skipping an unreadable archived room message'),
    });
    for (const result of results) await send(result);
    return finElement(page);
  }

  async metadata(room: Room, user: JID): Promise<Element> {
    this.mayRead(room, user);
    return metadataElement(await this.#mam.rooms.store.bounds(ownerOf(room)));
  }
}

function ownerOf(room: Room): Owner {
  return { domain: room.jid.domain, localpart: room.jid.local };
}
