// What the mam module offers other modules: the room archives the muc module
// writes and answers from (XEP-0313 on rooms), kept and purged with the rest,
// and the paging limits every archive query shares.
import type { PageLimits } from './form.ts';
import type { ArchiveStore } from './store.ts';
import type { ArchiveWriter } from './writer.ts';

export interface MamService {
  /** Rooms' archives (table muc_mam_messages): the owner is the room, the peer its bare JID, the resource the sender's nickname. */
  readonly rooms: { store: ArchiveStore; writer: ArchiveWriter };
  readonly limits: PageLimits;
}
