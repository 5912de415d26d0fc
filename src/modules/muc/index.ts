// Group chat (XEP-0045), first slice: a MUC service on its own subdomain
// (conference.<domain> by default), served through the router's component
// hosts so every stanza to it is accepted, classified and decided like any
// other. Rooms, occupants, affiliations and roles, the room configuration
// form, history in memory, private messages passed on through the decision
// point, mediated invitations, self-ping (XEP-0410). Persistent rooms and
// their affiliations are stored (migration 0011); when the mam module is
// loaded, persistent rooms keep an archive of their messages (XEP-0313,
// migration 0014) in its store. Docs: docs/modules/muc.md.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { defineModule } from '../../core/module.ts';
import { parseJID, tryParseJID } from '../../xmpp/jid.ts';
import type { MamService } from '../mam/service.ts';
import { RoomArchive } from './archive.ts';
import { MucProtocol } from './protocol.ts';
import { JoinRate } from './rate.ts';
import { MucService } from './service.ts';
import { MucStore, type MucTables } from './store.ts';

/** The service's domain: the configured subdomain, or conference.<host>. Also used by `palisade policy explain`. */
export function mucDomain(subdomain: string | null | undefined, host: string): string {
  return parseJID(subdomain ?? `conference.${host}`).domain;
}

const options = z.strictObject({
  subdomain: z
    .string()
    .min(1)
    .max(255)
    .refine((s) => isDomain(s), { message: 'must be a domain name (no @ or /), e.g. conference.example.org' })
    .nullable()
    .default(null)
    .describe("the MUC service's domain; null: 'conference.' followed by the server's domain"),
  name: z.string().min(1).max(100).default('Group chat').describe('the name the service shows in service discovery'),
  max_rooms_per_user: z.int().min(0).max(100_000).default(100).describe('rooms one user may have created (and not destroyed), 0..100000'),
  max_users: z
    .int()
    .min(1)
    .max(100_000)
    .default(200)
    .describe('most occupants of one room, and the largest muc#roomconfig_maxusers an owner may set, 1..100000'),
  max_history: z.int().min(0).max(1000).default(100).describe('the largest history length an owner may set (messages kept in memory per room), 0..1000'),
  max_nick_length: z.int().min(1).max(1023).default(64).describe('longest nickname, in characters, 1..1023'),
  max_subject_length: z.int().min(1).max(100_000).default(1000).describe('longest subject and room description, in characters, 1..100000'),
  max_room_name_length: z
    .int()
    .min(1)
    .max(1023)
    .default(100)
    .describe("longest room name, in characters: the room address's localpart and muc#roomconfig_roomname, 1..1023"),
  joins_per_minute: z.int().min(1).max(100_000).default(30).describe('joins one user may make per minute, on average, 1..100000'),
  join_burst: z.int().min(1).max(100_000).default(10).describe('joins one user may make at once before joins_per_minute applies, 1..100000'),
});

function isDomain(s: string): boolean {
  const j = tryParseJID(s);
  return j !== undefined && j.local === '' && j.resource === '';
}

/** How often refilled join buckets are forgotten. */
const SWEEP_MS = 60_000;

export default defineModule({
  id: 'muc',
  description: 'Group chat (XEP-0045)',
  // Room archives use the mam module's store when it is loaded.
  loadsAfter: ['mam'],
  options,
  async setup(ctx) {
    const opts = ctx.options;
    const domain = mucDomain(opts.subdomain, ctx.host);
    const rate = new JoinRate(opts.joins_per_minute, opts.join_burst);
    const mam = ctx.useIfLoaded<MamService>('mam');
    const service = new MucService({
      domain,
      store: new MucStore(ctx.storage.db as unknown as Kysely<MucTables>, domain),
      limits: {
        maxRoomsPerUser: opts.max_rooms_per_user,
        maxUsers: opts.max_users,
        maxHistory: opts.max_history,
        maxNickChars: opts.max_nick_length,
        maxSubjectChars: opts.max_subject_length,
        maxNameChars: opts.max_room_name_length,
      },
      rate,
      send: (stanza) => ctx.send(stanza),
      relay: (stanza, sender) => ctx.relay(stanza, sender),
      archive: mam ? new RoomArchive(mam, ctx.log) : undefined,
    });
    await service.load();
    const protocol = new MucProtocol(service, opts.name);
    ctx.component(domain, opts.name, (stanza, route) => protocol.handle(stanza, route));

    // Leaving follows the client: its session ends, or it sends unavailable presence to everyone.
    const leaveAll = (who: Parameters<MucService['gone']>[0]) => {
      service.gone(who).catch((err: unknown) => ctx.log.warn({ err, jid: who.toString() }, 'could not take a departed client out of its rooms'));
    };
    ctx.on('session-closed', (session) => leaveAll(session.jid));
    ctx.hook(
      'presence/bare',
      (presence, route) => {
        if (route.origin && presence.attrs.to === undefined && presence.attrs.type === 'unavailable') leaveAll(route.from);
        return false;
      },
      5,
    );
    ctx.every(SWEEP_MS, () => rate.sweep());
  },
});
