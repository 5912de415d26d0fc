// `palisade group …`: groups kept in the database, which policy rules name
// (groups: [...]) next to the groups the policy file defines. Every change is
// audited, and the running server is asked to reload the memberships.
//
//   palisade group add NAME [--description TEXT]
//   palisade group remove NAME
//   palisade group list
//   palisade group members NAME
//   palisade group add-member NAME JID
//   palisade group remove-member NAME JID
import type { Command } from 'commander';
import { ConfigError } from '../config/errors.ts';
import type { LoadedConfig } from '../config/load.ts';
import { GroupStore } from '../policy/groups.ts';
import { loadPolicy, policyPath } from '../policy/load.ts';
import { writeReloadRequest } from '../policy/reload-request.ts';
import { groupName } from '../policy/schema.ts';
import { JidError, parseJID } from '../xmpp/jid.ts';
import { CONFIG_OPTION, auditCli, cliActor, cliFail, withStorage } from './policy.ts';

export function registerGroupCommands(program: Command): void {
  const group = program.command('group').description('groups that policy rules name (docs/policy.md)');

  group
    .command('add <name>')
    .description('create a group')
    .option('--description <text>', 'what the group is for', '')
    .option(...CONFIG_OPTION)
    .action(async (name: string, opts: { description: string; config?: string }) => {
      checkName(name);
      await withStorage(opts.config, async (storage, loaded) => {
        const groups = new GroupStore(storage.db);
        if (await groups.get(name)) cliFail(1, `palisade: group ${name} already exists`);
        await groups.add(name, opts.description);
        await changed(storage, loaded, 'group.add', `created group ${name}`, { group: name, description: opts.description });
      });
    });

  group
    .command('remove <name>')
    .description('delete a group and its memberships (refused while the policy file names it)')
    .option(...CONFIG_OPTION)
    .action(async (name: string, opts: { config?: string }) => {
      await withStorage(opts.config, async (storage, loaded) => {
        const groups = new GroupStore(storage.db);
        if (!(await groups.get(name))) cliFail(1, `palisade: no group ${name}`);
        const rest = await groups.names();
        rest.delete(name);
        try {
          loadPolicy(policyPath(loaded), { dbGroups: rest });
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          if (err.issues.some((i) => i.message.includes(`'${name}'`))) {
            cliFail(1, `palisade: the policy file names group ${name}; change the policy first, then remove the group:\n${err.message}`);
          }
        }
        await groups.remove(name);
        await changed(storage, loaded, 'group.remove', `removed group ${name}`, { group: name });
      });
    });

  group
    .command('list')
    .description('list the groups of the database (and those the policy file defines)')
    .option(...CONFIG_OPTION)
    .action(async (opts: { config?: string }) => {
      await withStorage(opts.config, async (storage, loaded) => {
        for (const g of await new GroupStore(storage.db).list()) {
          process.stdout.write(`${g.name}\t${g.members} member${g.members === 1 ? '' : 's'}${g.description ? `\t${g.description}` : ''}\n`);
        }
        for (const name of fileGroups(loaded)) process.stdout.write(`${name}\t(defined in the policy file)\n`);
      });
    });

  group
    .command('members <name>')
    .description("list a group's members kept in the database")
    .option(...CONFIG_OPTION)
    .action(async (name: string, opts: { config?: string }) => {
      await withStorage(opts.config, async (storage, loaded) => {
        const groups = new GroupStore(storage.db);
        const inFile = fileGroups(loaded).includes(name);
        if (!(await groups.get(name)) && !inFile) cliFail(1, `palisade: no group ${name}`);
        for (const jid of await groups.members(name)) process.stdout.write(`${jid}\n`);
        if (inFile) process.stderr.write(`(${name} is also defined in the policy file: its members, domains and patterns there count too)\n`);
      });
    });

  group
    .command('add-member <name> <jid>')
    .description('add an address (a local account or an external one) to a group')
    .option(...CONFIG_OPTION)
    .action(async (name: string, address: string, opts: { config?: string }) => {
      await withStorage(opts.config, async (storage, loaded) => {
        const jid = memberJid(address, loaded.config.domain);
        const groups = new GroupStore(storage.db);
        if (!(await groups.get(name))) cliFail(1, `palisade: no group ${name} (create it with: palisade group add ${name})`);
        if (!(await groups.addMember(name, jid))) {
          process.stdout.write(`${jid} is already in ${name}\n`);
          return;
        }
        await changed(storage, loaded, 'group.add-member', `added ${jid} to ${name}`, { group: name, member: jid });
      });
    });

  group
    .command('remove-member <name> <jid>')
    .description('remove an address from a group')
    .option(...CONFIG_OPTION)
    .action(async (name: string, address: string, opts: { config?: string }) => {
      await withStorage(opts.config, async (storage, loaded) => {
        const jid = memberJid(address, loaded.config.domain);
        const groups = new GroupStore(storage.db);
        if (!(await groups.removeMember(name, jid))) cliFail(1, `palisade: ${jid} is not a member of ${name}`);
        await changed(storage, loaded, 'group.remove-member', `removed ${jid} from ${name}`, { group: name, member: jid });
      });
    });
}

async function changed(storage: Parameters<typeof auditCli>[0], loaded: LoadedConfig, action: string, what: string, details: Record<string, unknown>): Promise<void> {
  await auditCli(storage, loaded, action, what, details);
  writeReloadRequest(loaded.dataDir, 'groups', cliActor());
  process.stdout.write(`${what} (a running server applies it within ${loaded.config.policy.reload_poll_ms} ms)\n`);
}

function checkName(name: string): void {
  const r = groupName().safeParse(name);
  if (!r.success) cliFail(1, `palisade: ${name}: ${r.error.issues[0]?.message ?? 'not a valid group name'}`);
}

function memberJid(address: string, domain: string): string {
  try {
    const j = parseJID(address.includes('@') ? address : `${address}@${domain}`);
    if (!j.local || j.resource) cliFail(1, `palisade: ${address} is not an address user@domain`);
    return j.bareString();
  } catch (err) {
    if (err instanceof JidError) cliFail(1, `palisade: ${address}: ${err.reason}`);
    throw err;
  }
}

function fileGroups(loaded: LoadedConfig): string[] {
  try {
    return Object.keys(loadPolicy(policyPath(loaded)).doc.groups);
  } catch {
    return [];
  }
}
