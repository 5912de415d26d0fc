// `palisade archive export`: the compliance archive of one account as JSON
// lines (docs/policy.md "Export"). This is where message bodies leave the
// server, so every export is audited before the first line is written: who,
// which account, which period, how many messages, where to (never the content).
//
//   palisade archive export --account JID [--since TIME] [--until TIME] [--out FILE]
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import { AccountError, accountJid } from '../core/accounts.ts';
import { ComplianceStore, type ComplianceCopy, type ComplianceTables } from '../modules/mam/compliance.ts';
import { fromArchivedXml } from '../modules/mam/results.ts';
import { NS } from '../xmpp/ns.ts';
import { CONFIG_OPTION, auditCli, cliFail, withStorage } from './policy.ts';

/** Rows read per query: bounded memory whatever the archive's size. */
const EXPORT_PAGE = 500;
const INSTANT = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;

export function registerArchiveCommands(program: Command): void {
  const archive = program.command('archive').description('the compliance archive (docs/policy.md)');

  archive
    .command('export')
    .description("write an account's compliance archive as JSON lines (audited)")
    .requiredOption('--account <jid>', 'the account')
    .option('--since <time>', 'only messages stored at or after this time (2026-01-31 or 2026-01-31T08:00:00Z)')
    .option('--until <time>', 'only messages stored at or before this time')
    .option('--out <file>', 'write to this file (created with mode 600; must not exist) instead of standard output')
    .option(...CONFIG_OPTION)
    .action(async (opts: { account: string; since?: string; until?: string; out?: string; config?: string }) => {
      const range = { since: instant('--since', opts.since), until: instant('--until', opts.until) };
      if (range.since && range.until && range.since > range.until) cliFail(1, 'palisade: --since is after --until');
      await withStorage(opts.config, async (storage, loaded) => {
        let j;
        try {
          j = accountJid(opts.account, loaded.config.domain);
        } catch (err) {
          if (err instanceof AccountError) cliFail(1, `palisade: --account: ${err.message}`);
          throw err;
        }
        const owner = { domain: j.domain, localpart: j.local };
        const store = new ComplianceStore(storage.db as unknown as Kysely<ComplianceTables>);
        const count = await store.count(owner, range);
        let fd = 1;
        if (opts.out !== undefined) {
          try {
            fd = openSync(opts.out, 'wx', 0o600);
          } catch (err) {
            cliFail(1, `palisade: --out: ${(err as Error).message}`);
          }
        }
        try {
          await auditCli(storage, loaded, 'archive.export', `compliance archive of ${j.bareString()} exported (${count} messages)`, {
            account: j.bareString(),
            since: range.since?.toISOString() ?? null,
            until: range.until?.toISOString() ?? null,
            messages: count,
            to: opts.out ?? 'stdout',
          });
          let after = 0;
          for (;;) {
            const page = await store.page(owner, range, after, EXPORT_PAGE);
            if (page.length > 0) writeSync(fd, page.map((c) => JSON.stringify(exportLine(j.bareString(), c)) + '\n').join(''));
            if (page.length < EXPORT_PAGE) break;
            after = page[page.length - 1]!.id;
          }
        } finally {
          if (fd !== 1) closeSync(fd);
        }
        process.stderr.write(`exported ${count} message${count === 1 ? '' : 's'} of ${j.bareString()}${opts.out ? ` to ${opts.out}` : ''}\n`);
      });
    });
}

/** One exported message: the metadata, the body (when the message has one) and the stanza as stored. */
export function exportLine(account: string, c: ComplianceCopy): Record<string, unknown> {
  let message;
  try {
    message = fromArchivedXml(c.xml);
  } catch {
    message = undefined; // still exported: the stored text is the record
  }
  return {
    id: c.stanzaId,
    account,
    direction: c.direction,
    peer: c.peerResource ? `${c.peer}/${c.peerResource}` : c.peer,
    from: message?.attrs.from ?? null,
    to: message?.attrs.to ?? null,
    type: message?.attrs.type ?? 'normal',
    message_id: message?.attrs.id ?? null,
    stored_at: c.storedAt.toISOString(),
    expires_at: c.expiresAt.toISOString(),
    // Whether the user's own archive kept the message too (their preferences may have said never).
    in_user_archive: c.userStanzaId !== undefined,
    body: message?.getChildText('body', NS.client) ?? null,
    xml: c.xml,
  };
}

function instant(option: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(value);
  if (!INSTANT.test(value) || Number.isNaN(d.getTime())) cliFail(1, `palisade: ${option}: '${value}' is not a date (2026-01-31) or a UTC time (2026-01-31T08:00:00Z)`);
  return d;
}
