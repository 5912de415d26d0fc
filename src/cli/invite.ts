// `palisade invite …`: invitations, the only way to self-service accounts
// (docs/invitations.md). Like `palisade user`, they work on the database
// directly, with the server running or not; every change is audited.
//
//   palisade invite create [--group G] [--expires DURATION] [--user LOCALPART]
//   palisade invite list
//   palisade invite revoke ID
import type { Command } from 'commander';
import { AccountError, accountJid } from '../core/accounts.ts';
import { GroupStore } from '../policy/groups.ts';
import { createInvitation, invitationLinks } from '../invitations/index.ts';
import { InvitationStore, invitationState } from '../invitations/store.ts';
import { DEFAULT_EXPIRY, DurationError, parseDuration } from '../invitations/duration.ts';
import { publicOrigin } from '../net/http/public-origin.ts';
import { isMixedScript } from '../xmpp/precis.ts';
import { CONFIG_OPTION, auditCli, cliActor, cliFail, withStorage } from './policy.ts';

export function registerInviteCommands(program: Command): void {
  const invite = program.command('invite').description('invitations to create an account on the web page (docs/invitations.md)');

  invite
    .command('create')
    .description('create a one-time invitation and print its link')
    .option('--group <name>', 'add the new account to this group (palisade group add)')
    .option('--expires <duration>', 'how long it stays valid: 30m, 12h, 7d, 2w … at most 90d', DEFAULT_EXPIRY)
    .option('--user <localpart>', 'fix the user name of the account')
    .option(...CONFIG_OPTION)
    .action(async (opts: { group?: string; expires: string; user?: string; config?: string }) => {
      let validForMs: number;
      try {
        validForMs = parseDuration(opts.expires);
      } catch (err) {
        if (err instanceof DurationError) cliFail(1, `palisade: --expires: ${err.message}`);
        throw err;
      }
      await withStorage(opts.config, async (storage, loaded) => {
        const cfg = loaded.config;
        let localpart: string | null = null;
        if (opts.user !== undefined) {
          if (opts.user.includes('@')) cliFail(1, `palisade: --user takes the user name only, without @${cfg.domain}`);
          try {
            localpart = accountJid(opts.user, cfg.domain).local;
          } catch (err) {
            if (err instanceof AccountError) cliFail(1, `palisade: --user: ${err.message}`);
            throw err;
          }
          if (isMixedScript(localpart)) cliFail(1, `palisade: --user: ${localpart} mixes scripts (a lookalike risk)`);
          if (await storage.accounts.get(cfg.domain, localpart)) cliFail(1, `palisade: the account ${localpart}@${cfg.domain} already exists`);
        }
        if (opts.group !== undefined && !(await new GroupStore(storage.db).get(opts.group))) {
          cliFail(1, `palisade: no group ${opts.group} (create it with: palisade group add ${opts.group})`);
        }
        const created = await createInvitation(storage, cfg.domain, { createdBy: cliActor(), validForMs, group: opts.group ?? null, localpart });
        const links = invitationLinks(publicOrigin(cfg.listeners.https.public_url, cfg.domain, cfg.listeners.https.port), cfg.domain, created.token, localpart);
        await auditCli(storage, loaded, 'invite.create', `created invitation ${created.id}`, {
          invitation: created.id,
          group: opts.group ?? null,
          user: localpart,
          expires: created.expiresAt.toISOString(),
        });
        process.stdout.write(
          `invitation ${created.id}: one use, valid until ${created.expiresAt.toISOString()}` +
            (localpart ? `, for ${localpart}@${cfg.domain}` : '') +
            (opts.group ? `, joins group ${opts.group}` : '') +
            `\n${links.url}\n${links.uri}\n`,
        );
        if (!cfg.registration.invitations || !cfg.listeners.https.enabled) {
          process.stderr.write('warning: the invitation page is not served (registration.invitations or listeners.https.enabled is false)\n');
        }
        process.stderr.write('The link is shown only now; send it to the person invited over a channel you trust.\n');
      });
    });

  invite
    .command('list')
    .description('list invitations (never their tokens)')
    .option(...CONFIG_OPTION)
    .action(async (opts: { config?: string }) => {
      await withStorage(opts.config, async (storage, loaded) => {
        const now = Date.now();
        for (const inv of await new InvitationStore(storage.db, loaded.config.domain).list()) {
          const state = invitationState(inv, now);
          const detail = state === 'used' ? `used by ${inv.usedBy ?? '?'} at ${inv.usedAt!.toISOString()}` : `expires ${inv.expiresAt.toISOString()}`;
          process.stdout.write(`${inv.id}\t${state}\t${detail}\tgroup=${inv.group ?? '-'}\tuser=${inv.localpart ?? '-'}\tby ${inv.createdBy}\n`);
        }
      });
    });

  invite
    .command('revoke <id>')
    .description('revoke an invitation that has not been used')
    .option(...CONFIG_OPTION)
    .action(async (idText: string, opts: { config?: string }) => {
      if (!/^[1-9][0-9]{0,15}$/.test(idText)) cliFail(1, `palisade: ${idText} is not an invitation id (see palisade invite list)`);
      const id = Number(idText);
      await withStorage(opts.config, async (storage, loaded) => {
        const store = new InvitationStore(storage.db, loaded.config.domain);
        const inv = await store.get(id);
        if (!inv) cliFail(1, `palisade: no invitation ${id}`);
        if (!(await store.revoke(id))) cliFail(1, `palisade: invitation ${id} is already ${invitationState(inv, Date.now())}`);
        await auditCli(storage, loaded, 'invite.revoke', `revoked invitation ${id}`, { invitation: id });
        process.stdout.write(`revoked invitation ${id}\n`);
      });
    });
}
