// Message archive (XEP-0313) with stanza ids (XEP-0359) and paging (XEP-0059)
// for one-to-one messages of local accounts. Every chat or normal message with
// a body (or an OMEMO payload, or a <store/> hint) is written to the archive of
// each local account taking part before its hook returns, so before the message
// counts as handled; the message then reaches the recipient carrying
// <stanza-id by='recipient'/>. Only the owner reads an archive, page by page.
// Rooms' archives live here too (service 'mam'): the muc module writes and
// answers them; retention purges them with the rest. The verdict's 'archive'
// obligation (src/policy/archiving.ts) says per account whether the
// preferences decide (user, also what no obligation means), nothing is kept
// (none), or a compliance copy is kept besides (compliance). Docs:
// docs/modules/mam.md.
import type { Kysely } from 'kysely';
import { z } from 'zod';
import { defineModule, type RouteContext, type StanzaHook } from '../../core/module.ts';
import type { ClientSession } from '../../core/session.ts';
import { onceMark } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { parseJID, type JID } from '../../xmpp/jid.ts';
import { NS } from '../../xmpp/ns.ts';
import { archiveObligation, type ArchiveSide } from '../../policy/archiving.ts';
import { ownerOf, type RosterService } from '../roster/service.ts';
import { hasArchiveId, isArchivable, isComplianceArchivable, newStanzaId, stanzaIdElement, stripForgedIds, toArchivedXml } from './archiving.ts';
import { parseQuery, queryForm } from './form.ts';
import { PrefsCache } from './prefs-cache.ts';
import { DEFAULT_MODES, parsePrefs, prefsElement, ruleFor, type Preferences } from './prefs.ts';
import { finElement, metadataElement, pageResults } from './results.ts';
import { ComplianceStore, type ComplianceTables, type NewComplianceCopy } from './compliance.ts';
import { runRetention } from './retention.ts';
import type { MamService } from './service.ts';
import { ArchiveStore, UnknownArchiveIdError, type MamTables, type NewArchived, type RunWrite } from './store.ts';
import { ArchiveWriter } from './writer.ts';

export const FEATURE_EXTENDED = `${NS.mam}#extended`;

/** Before carbons (50, which copy the stanza id along), offline storage (10) and delivery (0). */
const ARCHIVE_PRIORITY = 100;
/** XEP-0313 leaves the page size to the server; small enough for a phone on a slow link. */
const DEFAULT_PAGE_SIZE = 50;
const DAY_MS = 86_400_000;
/** Where the verdict carries no archive obligation (no archiving section, server-originated stanzas): the preferences decide. */
const BY_PREFERENCES: ArchiveSide = { mode: 'user', entry: 'implicit' };
const EMPTY_PAGE = { items: [], complete: true, count: 0 };
/** Accounts whose preferences are kept in memory (most have none stored: one entry each). */
const PREFS_CACHE_SIZE = 10_000;
/** Rows in one group-commit statement: 8 bound values each, well under SQLite's 32,766. */
const MAX_ROWS_PER_COMMIT = 1000;

export default defineModule({
  id: 'mam',
  description: 'Message archive management (XEP-0313)',
  // The 'roster' archiving preference asks whether the peer is on the roster.
  dependsOn: ['roster'],
  options: z.strictObject({
    retention_days: z.int().min(1).max(36_500).default(365).describe('days an archived message is kept, 1..36500'),
    max_page_size: z.int().min(1).max(1000).default(250).describe('most messages one query returns, 1..1000; a larger <max/> is cut to it'),
    default_preference: z.enum(DEFAULT_MODES).default('always').describe('what is archived for an account that never set preferences: always, roster or never'),
    purge_interval_minutes: z.int().min(1).max(10_080).default(60).describe('minutes between runs of the job that deletes expired messages, 1..10080'),
  }),
  accountFeatures: [NS.mam, FEATURE_EXTENDED, NS.stanzaId],
  setup(ctx) {
    const runWrite: RunWrite = (q) => ctx.storage.runWrite(q);
    const store = new ArchiveStore(ctx.storage.db as unknown as Kysely<MamTables>, 'mam_messages', runWrite);
    const writer = new ArchiveWriter((rows) => store.add(rows), MAX_ROWS_PER_COMMIT);
    const roster = ctx.use<RosterService>('roster');
    const limits = { defaultMax: Math.min(DEFAULT_PAGE_SIZE, ctx.options.max_page_size), maxMax: ctx.options.max_page_size };
    const roomStore = new ArchiveStore(ctx.storage.db as unknown as Kysely<MamTables>, 'muc_mam_messages', runWrite);
    const compliance = new ComplianceStore(ctx.storage.db as unknown as Kysely<ComplianceTables>, runWrite);
    const complianceWriter = new ArchiveWriter<NewComplianceCopy>((rows) => compliance.add(rows), MAX_ROWS_PER_COMMIT);
    ctx.provide<MamService>('mam', { rooms: { store: roomStore, writer: new ArchiveWriter((rows) => roomStore.add(rows), MAX_ROWS_PER_COMMIT) }, limits });
    // A message to a resource that went away comes round again, the same object, as one to the bare JID.
    const firstSight = onceMark('mam');

    const isAccount = (j: JID) => j.domain === ctx.host && j.local !== '';
    const accountActive = async (j: JID) => {
      if (ctx.sessions.ofAccount(j.bare).length > 0) return true;
      const account = await ctx.storage.accounts.get(ctx.host, j.local);
      return account !== undefined && !account.disabled;
    };
    const stored = new PrefsCache((bare) => store.getPrefs(ownerOf(parseJID(bare))), PREFS_CACHE_SIZE);
    const defaults: Preferences = { default: ctx.options.default_preference, always: [], never: [] };
    const prefsOf = async (owner: JID): Promise<Preferences> => (await stored.get(owner.bareString())) ?? defaults;
    const onRoster = async (owner: JID, peer: string) => {
      if (peer === owner.bareString()) return true; // one's own messages need no contact
      const cached = roster.peek(owner);
      if (cached) return cached.items.has(peer);
      return (await roster.store.getItem(ownerOf(owner), peer)) !== undefined;
    };
    /** Whether the owner's preferences keep a message with this peer. */
    const wants = async (owner: JID, peer: JID) => {
      const rule = ruleFor(await prefsOf(owner), peer);
      return rule === 'roster' ? onRoster(owner, peer.bareString()) : rule === 'always';
    };

    const archive: StanzaHook = async (stanza, route) => {
      if (!firstSight(stanza)) return false;
      const recipient = isAccount(route.to) ? route.to.bare : undefined;
      if (route.origin) stripForgedIds(stanza, ctx.host);
      // The server routing a message again (stream management) that was archived the first time.
      else if (recipient && hasArchiveId(stanza, recipient.toString())) return false;
      const forOwner = isArchivable(stanza);
      if (!forOwner && !isComplianceArchivable(stanza)) return false;

      const sender = isAccount(route.from) ? route.from.bare : undefined;
      const duty = archiveObligation(route.verdict);
      const rows: NewArchived[] = [];
      const kept: NewComplianceCopy[] = [];
      const storedAt = new Date();
      const xml = toArchivedXml(stanza);
      const copy = (owner: JID, peer: JID, direction: 'in' | 'out'): NewArchived => ({
        owner: ownerOf(owner),
        stanzaId: newStanzaId(),
        peer: peer.bareString(),
        peerResource: peer.resource,
        direction,
        storedAt,
        xml,
      });
      /** The copies one account keeps of the message: its own archive's as its side and preferences say, and the organisation's. */
      const keep = async (owner: JID, peer: JID, direction: 'in' | 'out', side: ArchiveSide): Promise<string | undefined> => {
        const own = forOwner && side.mode !== 'none' && (await wants(owner, peer)) ? copy(owner, peer, direction) : undefined;
        if (own) rows.push(own);
        if (side.mode === 'compliance') {
          const expiresAt = new Date(storedAt.getTime() + side.retention_days! * DAY_MS);
          kept.push({ ...copy(owner, peer, direction), userStanzaId: own?.stanzaId, expiresAt });
        }
        return own?.stanzaId;
      };
      if (sender && (route.origin !== undefined || (await accountActive(sender)))) {
        await keep(sender, route.to, 'out', duty?.sender ?? BY_PREFERENCES);
      }
      let recipientId: string | undefined;
      if (recipient && sender?.equals(recipient)) {
        // A message to oneself is one message in one archive.
        recipientId = rows[0]?.stanzaId;
      } else if (recipient && (await accountActive(recipient))) {
        recipientId = await keep(recipient, route.from, 'in', duty?.recipient ?? BY_PREFERENCES);
      }
      await Promise.all([writer.add(rows), complianceWriter.add(kept)]);
      if (recipient && recipientId) stanza.append(stanzaIdElement(recipientId, recipient.toString()));
      return false;
    };
    for (const event of ['message/bare', 'message/full', 'message/remote'] as const) ctx.hook(event, archive, ARCHIVE_PRIORITY);

    /** An account whose archiving mode is none has no archive to read (the obligation on its query says so). */
    const noArchive = (route: RouteContext) => archiveObligation(route.verdict)?.sender?.mode === 'none';

    /** Only the owner reads or configures an archive. */
    const ownerSession = (route: RouteContext): ClientSession => {
      const session = route.origin;
      // Another account's archive answers as an account that does not exist does (the router's answer), so it reveals nothing.
      if (!session || session.jid.bareString() !== route.to.bareString()) throw new StanzaError('service-unavailable');
      return session;
    };

    ctx.iq({ type: 'get', ns: NS.mam, name: 'query', targets: ['account'] }, (_iq, route) => {
      ownerSession(route);
      return queryForm();
    });

    ctx.iq({ type: 'set', ns: NS.mam, name: 'query', targets: ['account'] }, async (iq, route) => {
      const session = ownerSession(route);
      const q = parseQuery(iq.elements[0]!, limits);
      if (noArchive(route)) return finElement(EMPTY_PAGE);
      const archiveJid = route.to.bareString();
      const page = await store.query(ownerOf(route.to), q.filter, q.paging).catch((err: unknown) => {
        if (err instanceof UnknownArchiveIdError) throw new StanzaError('item-not-found', `There is no message with the id '${err.stanzaId}' in your archive.`);
        throw err;
      });
      // The results go out before the router sends the iq result with <fin/> (XEP-0313 §4.2).
      const results = pageResults(page.items, {
        flip: q.flip,
        to: session.jid.toString(),
        archive: archiveJid,
        queryId: q.queryId,
        unreadable: (item, reason) => ctx.log.error({ id: item.stanzaId, account: archiveJid, reason }, 'skipping an unreadable archived message'),
      });
      for (const result of results) session.send(result);
      return finElement(page);
    });

    ctx.iq({ type: 'get', ns: NS.mam, name: 'metadata', targets: ['account'] }, async (_iq, route) => {
      ownerSession(route);
      return metadataElement(noArchive(route) ? undefined : await store.bounds(ownerOf(route.to)));
    });

    ctx.iq({ type: 'get', ns: NS.mam, name: 'prefs', targets: ['account'] }, async (_iq, route) => {
      ownerSession(route);
      return prefsElement(await prefsOf(route.to));
    });

    ctx.iq({ type: 'set', ns: NS.mam, name: 'prefs', targets: ['account'] }, async (iq, route) => {
      ownerSession(route);
      const prefs = parsePrefs(iq.elements[0]!);
      await store.setPrefs(ownerOf(route.to), prefs);
      stored.set(route.to.bareString(), prefs);
      return prefsElement(prefs);
    });

    let purging = false;
    let stopping = false;
    ctx.on('stopping', () => (stopping = true));
    ctx.every(ctx.options.purge_interval_minutes * 60_000, () => {
      if (purging) return;
      purging = true;
      runRetention({ accounts: store, rooms: roomStore, compliance }, new Date(), ctx.options.retention_days, { stopped: () => stopping })
        .then((r) => {
          if (r.archived + r.compliance > 0) ctx.log.info({ purged: r.archived, compliance: r.compliance, cutoff: r.cutoff.toISOString() }, 'expired archived messages deleted');
        })
        .catch((err: unknown) => ctx.log.warn({ err }, 'archive retention purge failed'))
        .finally(() => (purging = false));
    });
  },
});
