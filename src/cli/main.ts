// The `palisade` command. Its forms are the operator contract (README):
//   palisade init --domain D --dir DIR
//   palisade start [--config FILE]
//   palisade check-config [--config FILE]
//   palisade user add|passwd|remove|list|import ...
//   palisade policy check|reload|explain|default, audit verify|export, group ..., invite ..., quarantine ... (policy.ts, audit.ts, group.ts, invite.ts, quarantine.ts)
//   palisade report usage --since T [--until T] --by user|group [--json] (report.ts)
// Passwords come from a prompt or stdin, never from argv (visible in `ps`).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { loadConfig, type LoadedConfig } from '../config/load.ts';
import { ConfigError } from '../config/errors.ts';
import { renderConfigTemplate } from '../config/template.ts';
import { resolveModules } from '../core/module-loader.ts';
import { BUILTIN_MODULES } from '../modules/index.ts';
import { Server, SERVER_VERSION } from '../core/server.ts';
import { Accounts, AccountError, generatePassword } from '../core/accounts.ts';
import { openStorage, resolveStorageConfig } from '../storage/index.ts';
import { StorageConflictError, SchemaTooNewError, type Storage } from '../storage/types.ts';
import { AuthGuard } from '../core/auth-guard.ts';
import { readPassword, PasswordInputError } from './password.ts';
import { parseImport, ImportFormatError } from './import.ts';
import { auditCli, registerPolicyCommands } from './policy.ts';
import { registerAuditCommands } from './audit.ts';
import { registerReportCommands } from './report.ts';
import { registerGroupCommands } from './group.ts';
import { registerInviteCommands } from './invite.ts';
import { registerQuarantineCommands } from './quarantine.ts';
import { closeAccountSessions, registerSessionsCommands } from './sessions.ts';
import { registerArchiveCommands } from './archive.ts';
import { refuseRemovalOnHold, registerHoldCommands } from './hold.ts';
import { WEBSOCKET_PATH } from '../net/http/index.ts';
import { publicOrigin, websocketUrl } from '../net/http/public-origin.ts';

/** An error whose message is for the operator; printed without a stack. */
class UsageError extends Error {}

function configPath(opt: string | undefined): string | undefined {
  if (opt) return opt;
  if (process.env.PALISADE_CONFIG) return process.env.PALISADE_CONFIG;
  return existsSync('palisade.yaml') ? 'palisade.yaml' : undefined;
}

function load(opt: string | undefined): LoadedConfig {
  return loadConfig({ file: configPath(opt) });
}

async function withAccounts<T>(
  configOpt: string | undefined,
  fn: (accounts: Accounts, loaded: LoadedConfig, storage: Storage) => Promise<T>,
): Promise<T> {
  const loaded = load(configOpt);
  const cfg = loaded.config;
  mkdirSync(loaded.dataDir, { recursive: true, mode: 0o700 });
  const storage = await openStorage(resolveStorageConfig(cfg.storage, loaded.dataDir));
  try {
    return await fn(Accounts.fromConfig(storage, cfg), loaded, storage);
  } finally {
    await storage.close();
  }
}

export function buildCli(): Command {
  const program = new Command('palisade')
    .description('Palisade: a secure XMPP server for organisations')
    .version(SERVER_VERSION)
    .exitOverride()
    .showHelpAfterError();

  program
    .command('init')
    .description('write a commented palisade.yaml with the defaults')
    .requiredOption('--domain <domain>', 'the XMPP domain to serve')
    .option('--dir <dir>', 'folder for palisade.yaml and all data', '.')
    .option('--force', 'overwrite an existing palisade.yaml')
    .action((opts: { domain: string; dir: string; force?: boolean }) => {
      const dir = resolve(opts.dir);
      const file = join(dir, 'palisade.yaml');
      if (existsSync(file) && !opts.force) throw new UsageError(`${file} already exists (use --force to overwrite it)`);
      const text = renderConfigTemplate({ domain: opts.domain, dataDir: './data' });
      mkdirSync(dir, { recursive: true });
      writeFileSync(file, text, { mode: 0o600 });
      process.stdout.write(`wrote ${file}\nstart with: palisade start --config ${file}\n`);
    });

  program
    .command('check-config')
    .description('validate the configuration (and the modules it loads) without starting')
    .option('--config <file>', 'palisade.yaml to check (default: $PALISADE_CONFIG or ./palisade.yaml)')
    .action((opts: { config?: string }) => {
      const loaded = load(opts.config);
      resolveModules(loaded.config.modules, BUILTIN_MODULES, loaded.file);
      process.stdout.write(`${loaded.file ?? 'built-in defaults'}: OK (domain ${loaded.config.domain}, data in ${loaded.dataDir})\n`);
    });

  program
    .command('start')
    .description('start the server (SIGTERM or Ctrl-C stops it gracefully)')
    .option('--config <file>', 'palisade.yaml (default: $PALISADE_CONFIG, ./palisade.yaml, or built-in defaults)')
    .action(async (opts: { config?: string }) => {
      await start(load(opts.config));
    });

  const user = program.command('user').description('manage accounts');
  const configOption = ['--config <file>', 'palisade.yaml (default: $PALISADE_CONFIG or ./palisade.yaml)'] as const;

  user
    .command('add <jid>')
    .description('create an account (password from a prompt, or the first line of stdin)')
    .option(...configOption)
    .option('--password-stdin', 'read the password from standard input')
    .option('--admin', 'make the account an administrator')
    .action(async (address: string, opts: { config?: string; passwordStdin?: boolean; admin?: boolean }) => {
      await withAccounts(opts.config, async (accounts, loaded, storage) => {
        accounts.jid(address); // refuse a bad address before asking for a password
        const password = await readPassword({ fromStdin: !!opts.passwordStdin, confirm: true });
        const j = await accounts.add(address, password, { isAdmin: !!opts.admin });
        await auditCli(storage, loaded, 'user.add', `created ${j.bareString()}`, { account: j.bareString(), admin: !!opts.admin });
        process.stdout.write(`created ${j.bareString()}\n`);
      });
    });

  user
    .command('passwd <jid>')
    .description("change an account's password")
    .option(...configOption)
    .option('--password-stdin', 'read the password from standard input')
    .action(async (address: string, opts: { config?: string; passwordStdin?: boolean }) => {
      await withAccounts(opts.config, async (accounts, loaded, storage) => {
        accounts.jid(address);
        const password = await readPassword({ fromStdin: !!opts.passwordStdin, confirm: true });
        const j = await accounts.setPassword(address, password);
        // The old password must stop working everywhere: the running server closes the account's sessions.
        const closed = await closeAccountSessions(loaded, j.bareString());
        await auditCli(storage, loaded, 'user.passwd', `password changed for ${j.bareString()}`, { account: j.bareString(), sessions_closed: closed.closed ?? null });
        process.stdout.write(`password changed for ${j.bareString()}\n`);
        if (closed.closed === undefined) process.stderr.write(`palisade: note: ${closed.message}\n`);
        else process.stdout.write(`${closed.message}\n`);
      });
    });

  user
    .command('remove <jid>')
    .description('delete an account')
    .option(...configOption)
    .action(async (address: string, opts: { config?: string }) => {
      await withAccounts(opts.config, async (accounts, loaded, storage) => {
        await refuseRemovalOnHold(storage, loaded, address);
        const j = await accounts.remove(address);
        await auditCli(storage, loaded, 'user.remove', `removed ${j.bareString()}`, { account: j.bareString() });
        process.stdout.write(`removed ${j.bareString()}\n`);
      });
    });

  user
    .command('unlock <jid>')
    .description('lift the lock that repeated failed logins put on an account')
    .option(...configOption)
    .action(async (address: string, opts: { config?: string }) => {
      await withAccounts(opts.config, async (accounts, loaded, storage) => {
        const j = accounts.jid(address);
        const had = await AuthGuard.fromConfig(storage, loaded.config).unlock(j.local);
        await auditCli(storage, loaded, 'auth.unlock', had ? 'lock lifted' : 'no lock', { account: j.bareString() });
        process.stdout.write(had ? `unlocked ${j.bareString()}\n` : `${j.bareString()} was not locked\n`);
      });
    });

  user
    .command('list')
    .description('list the accounts of the domain')
    .option(...configOption)
    .action(async (opts: { config?: string }) => {
      await withAccounts(opts.config, async (accounts) => {
        for await (const a of accounts.list()) {
          const flags = [a.isAdmin ? 'admin' : '', a.disabled ? 'disabled' : ''].filter(Boolean).join(',');
          process.stdout.write(`${a.localpart}@${a.domain}${flags ? `\t${flags}` : ''}\n`);
        }
      });
    });

  user
    .command('import <file>')
    .description("bulk-create accounts from CSV lines 'jid,password' ('-' reads stdin); a line with only a JID gets a generated password, printed once")
    .option(...configOption)
    .action(async (file: string, opts: { config?: string }) => {
      const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
      await withAccounts(opts.config, async (accounts, loaded, storage) => {
        const entries = parseImport(text, file, generatePassword);
        const started = Date.now();
        const result = await accounts.import(entries);
        await auditCli(storage, loaded, 'user.import', `imported ${result.created} accounts`, { created: result.created, existing: result.existing.length });
        for (const e of entries) {
          if (e.generated && !result.existing.includes(accounts.jid(e.address).bareString())) {
            process.stdout.write(`${accounts.jid(e.address).bareString()},${e.password}\n`);
          }
        }
        const seconds = ((Date.now() - started) / 1000).toFixed(1);
        process.stderr.write(`imported ${result.created} accounts in ${seconds} s` + (result.existing.length ? `; ${result.existing.length} already existed: ${result.existing.slice(0, 10).join(', ')}${result.existing.length > 10 ? ', …' : ''}` : '') + '\n');
      });
    });

  registerPolicyCommands(program);
  registerAuditCommands(program);
  registerReportCommands(program);
  registerGroupCommands(program);
  registerInviteCommands(program);
  registerQuarantineCommands(program);
  registerSessionsCommands(program);
  registerHoldCommands(program);
  registerArchiveCommands(program);
  return program;
}

async function start(loaded: LoadedConfig): Promise<void> {
  mkdirSync(loaded.dataDir, { recursive: true, mode: 0o700 });
  const server = new Server(loaded);
  await server.start();
  const cfg = loaded.config;
  if ((await server.storage.accounts.count(cfg.domain)) === 0) {
    const password = generatePassword();
    const accounts = Accounts.fromConfig(server.storage, cfg);
    const admin = await accounts.add('admin', password, { isAdmin: true });
    process.stdout.write(
      `\nFirst start: created the administrator account ${admin.bareString()}\n` +
        `  one-time password: ${password}\n` +
        `  (shown only now; change it with: palisade user passwd ${admin.bareString()})\n`,
    );
  }
  const a = server.addresses;
  const web = a.https && publicOrigin(cfg.listeners.https.public_url, cfg.domain, a.https.port);
  process.stdout.write(
    `\nPalisade ${SERVER_VERSION} serving ${cfg.domain}; data in ${loaded.dataDir}\n` +
      (a.c2s ? `  XMPP clients (STARTTLS): ${a.c2s.address} port ${a.c2s.port}\n` : '') +
      (a.c2sDirectTls ? `  XMPP clients (direct TLS): ${a.c2sDirectTls.address} port ${a.c2sDirectTls.port}\n` : '') +
      (web ? `  web client: ${web.href}\n  XMPP over WebSocket: ${websocketUrl(web, WEBSOCKET_PATH)}\n` : '') +
      (server.tls.files.created ? `  a self-signed certificate was created: ${server.tls.files.certFile}\n` : ''),
  );
  const shutdown = (signal: string) => {
    server.log.info({ signal }, 'shutting down');
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        server.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGHUP', () => {
    void server.policyEngine.reload('signal:SIGHUP'); // logs and audits its outcome; an invalid policy is refused
    try {
      server.tls.reload();
      server.log.info('TLS certificate reloaded');
    } catch (err) {
      server.log.error({ err }, 'TLS reload failed; keeping the old certificate');
    }
  });
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildCli().parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof ConfigError) {
      process.stderr.write(`configuration error:\n${err.message}\n`);
      return 2;
    }
    if (
      err instanceof UsageError ||
      err instanceof AccountError ||
      err instanceof SchemaTooNewError ||
      err instanceof PasswordInputError ||
      err instanceof ImportFormatError
    ) {
      process.stderr.write(`palisade: ${err.message}\n`);
      return 1;
    }
    if (err instanceof StorageConflictError) {
      process.stderr.write('palisade: that account already exists\n');
      return 1;
    }
    process.stderr.write(`palisade: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}
