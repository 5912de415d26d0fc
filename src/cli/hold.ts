// `palisade hold …`: legal holds (docs/policy.md "Legal hold"). While an
// account is on hold, the retention purge keeps its archived messages (its own
// archive and the compliance archive) and `palisade user remove` refuses it.
// Holds live in the database, so they work with the server running or not;
// placing, releasing and every refused removal are audited.
//
//   palisade hold add JID [--reason TEXT]
//   palisade hold remove JID
//   palisade hold list
import type { Command } from 'commander';
import type { Kysely } from 'kysely';
import { AccountError, accountJid } from '../core/accounts.ts';
import type { LoadedConfig } from '../config/load.ts';
import { ComplianceStore, type ComplianceTables } from '../modules/mam/compliance.ts';
import { HoldStore, type HoldTables } from '../modules/mam/holds.ts';
import { SignedAuditLog, loadOrCreateAuditKey } from '../policy/audit-log.ts';
import type { Storage } from '../storage/types.ts';
import type { JID } from '../xmpp/jid.ts';
import { CONFIG_OPTION, auditCli, cliActor, cliFail, withStorage } from './policy.ts';

const MAX_REASON = 1000;

export function registerHoldCommands(program: Command): void {
  const hold = program.command('hold').description('legal holds: keep an account’s archived messages past retention (docs/policy.md)');

  hold
    .command('add <jid>')
    .description('place an account on legal hold')
    .option('--reason <text>', 'why (a case or matter reference); kept with the hold and in the audit log', '')
    .option(...CONFIG_OPTION)
    .action(async (address: string, opts: { reason: string; config?: string }) => {
      if (opts.reason.length > MAX_REASON) cliFail(1, `palisade: --reason is longer than ${MAX_REASON} characters`);
      await withStorage(opts.config, async (storage, loaded) => {
        const j = jidOf(address, loaded);
        const owner = { domain: j.domain, localpart: j.local };
        const known = (await storage.accounts.get(j.domain, j.local)) !== undefined || (await complianceOf(storage).has(owner));
        if (!known) cliFail(1, `palisade: there is no account ${j.bareString()} and no compliance archive for it`);
        const holds = holdsOf(storage);
        const placed = await holds.place({ ...owner, reason: opts.reason, placedBy: cliActor(), placedAt: new Date() });
        if (!placed) {
          const existing = (await holds.get(owner))!;
          cliFail(1, `palisade: ${j.bareString()} is already on legal hold (since ${existing.placedAt.toISOString()}${existing.reason ? `: ${existing.reason}` : ''})`);
        }
        await auditCli(storage, loaded, 'legal-hold.place', `legal hold placed on ${j.bareString()}`, { account: j.bareString(), reason: opts.reason });
        process.stdout.write(`${j.bareString()} is on legal hold: its archived messages are kept and the account cannot be removed until 'palisade hold remove ${j.bareString()}'\n`);
      });
    });

  hold
    .command('remove <jid>')
    .description('release a legal hold (retention applies again from the next purge)')
    .option(...CONFIG_OPTION)
    .action(async (address: string, opts: { config?: string }) => {
      await withStorage(opts.config, async (storage, loaded) => {
        const j = jidOf(address, loaded);
        const released = await holdsOf(storage).release({ domain: j.domain, localpart: j.local });
        if (!released) cliFail(1, `palisade: ${j.bareString()} is not on legal hold`);
        await auditCli(storage, loaded, 'legal-hold.release', `legal hold released on ${j.bareString()}`, {
          account: j.bareString(),
          reason: released.reason,
          placed_at: released.placedAt.toISOString(),
          placed_by: released.placedBy,
        });
        process.stdout.write(`released the legal hold on ${j.bareString()}\n`);
      });
    });

  hold
    .command('list')
    .description('list the accounts on legal hold: JID, since, by, reason')
    .option(...CONFIG_OPTION)
    .action(async (opts: { config?: string }) => {
      await withStorage(opts.config, async (storage, loaded) => {
        for (const h of await holdsOf(storage).list(loaded.config.domain)) {
          process.stdout.write(`${h.localpart}@${h.domain}\t${h.placedAt.toISOString()}\t${h.placedBy}${h.reason ? `\t${h.reason}` : ''}\n`);
        }
      });
    });
}

/**
 * For `palisade user remove`: an account on legal hold is not removed (its
 * archive would go with it); the refusal is audited and the command fails.
 */
export async function refuseRemovalOnHold(storage: Storage, loaded: LoadedConfig, address: string): Promise<void> {
  let j: JID;
  try {
    j = accountJid(address, loaded.config.domain);
  } catch (err) {
    if (err instanceof AccountError) return; // the removal itself reports the bad address
    throw err;
  }
  const hold = await holdsOf(storage).get({ domain: j.domain, localpart: j.local });
  if (!hold) return;
  const log = new SignedAuditLog(storage, loadOrCreateAuditKey(loaded.dataDir), { dataDir: loaded.dataDir, checkpointEvery: loaded.config.policy.audit_checkpoint_every });
  await log.append({ actor: cliActor(), action: 'user.remove', decision: 'deny', reason: `removal of ${j.bareString()} refused: on legal hold`, details: { account: j.bareString(), hold_reason: hold.reason } });
  await log.flush();
  cliFail(1, `palisade: ${j.bareString()} is on legal hold (since ${hold.placedAt.toISOString()}${hold.reason ? `: ${hold.reason}` : ''}); it cannot be removed until the hold is released with 'palisade hold remove ${j.bareString()}'`);
}

function jidOf(address: string, loaded: LoadedConfig): JID {
  try {
    return accountJid(address, loaded.config.domain);
  } catch (err) {
    if (err instanceof AccountError) cliFail(1, `palisade: ${err.message}`);
    throw err;
  }
}

function holdsOf(storage: Storage): HoldStore {
  return new HoldStore(storage.db as unknown as Kysely<HoldTables>);
}

function complianceOf(storage: Storage): ComplianceStore {
  return new ComplianceStore(storage.db as unknown as Kysely<ComplianceTables>);
}
