// ejabberd from Debian, configured for a fair measurement: no shaper (Debian's
// config caps each connection at 3,000 bytes/s), a large accept backlog, TLS
// required, a module set like Palisade's, and its mnesia spool in the run's
// folder. Optionally with mod_mam, to compare archiving with archiving.
//
// Run as erl directly, not through ejabberdctl, which su's to the ejabberd user
// (resetting the open-files limit to 1024) and starts epmd for distribution:
// this node has no node name, so no distribution and no epmd at all, and the
// bench's own open-files limit is inherited.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import YAML from 'yaml';
import { deriveScramKeys } from '../loadgen/scram.ts';
import type { ServerSetup, Target } from './target.ts';

const CTL = '/usr/sbin/ejabberdctl';
/** Room size allowed, far above the bench's 1,000 occupants (as Palisade's muc max_users in the bench). */
const MUC_MAX_USERS = 100_000;
/** Registering the accounts: start, one try_register per account, stop. */
const REGISTER_TIMEOUT_MS = 180_000;

// Palisade's module set where ejabberd has a counterpart (roster and presence:
// mod_roster and the core; carbons: mod_carboncopy; smacks: mod_stream_mgmt;
// csi: mod_client_state; last-activity: mod_last); mod_privacy because
// mod_blocking is built on it; group chat: mod_muc. No pubsub/PEP, and no s2s.
const MODULES: Record<string, Record<string, unknown>> = {
  mod_disco: {},
  mod_ping: {},
  mod_version: {},
  mod_roster: {},
  mod_offline: {},
  mod_vcard: { search: false },
  mod_private: {},
  mod_privacy: {},
  mod_blocking: {},
  mod_last: {},
  mod_carboncopy: {},
  mod_stream_mgmt: {},
  mod_client_state: {},
  // Like Palisade's muc module on conference.<domain>, with no limit the mucnet
  // scenario's 1,000 occupants reach: max_users (default 200) caps every room,
  // and the room default below must be raised with it; past max_users_presence
  // (default 1,000) occupants a room stops broadcasting presence; the message and
  // presence intervals are 0 (no per-occupant rate), as by default. Rooms are
  // neither logged (no mod_muc_log) nor archived (no mod_mam).
  mod_muc: {
    host: 'conference.@HOST@',
    access_create: 'all',
    max_users: MUC_MAX_USERS,
    max_users_presence: MUC_MAX_USERS,
    min_message_interval: 0,
    min_presence_interval: 0,
    default_room_options: { max_users: MUC_MAX_USERS },
  },
};

export const ejabberd = ejabberdTarget(false);
/** With mod_mam in mnesia (its default storage), archiving every chat message; chat scenarios only. */
export const ejabberdMam = ejabberdTarget(true);

function ejabberdTarget(archiving: boolean): Target {
  return {
    name: archiving ? 'ejabberd-mam' : 'ejabberd',
    archive: archiving ? 'mod_mam, mnesia (default: always)' : undefined,
    scenarios: archiving ? ['messages', 'websocket', 'latency'] : undefined,

    async availability() {
      if (installedVersion()) return undefined;
      process.stderr.write('ejabberd is not installed; installing it with apt-get…\n');
      const epmdWasActive = systemdUnitActive('epmd.service');
      const apt = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', 'ejabberd'], {
        stdio: ['ignore', 'ignore', 'inherit'],
        timeout: 900_000,
      });
      if (!installedVersion()) return `apt-get install ejabberd failed (exit ${apt.status ?? apt.error?.message})`;
      stopPackageService(epmdWasActive);
      return undefined;
    },

    async version() {
      return installedVersion() ?? 'unknown';
    },

    async prepare(setup) {
      const sha1 = setup.mechanism === 'SCRAM-SHA-1';
      const hash = sha1 ? 'sha' : 'sha256';
      await writeFile(configFile(setup), YAML.stringify(config(setup, hash, archiving)));
      // ejabberd hashes new passwords with 4096 iterations and has no option for
      // it, but keeps and uses the count of a SCRAM record it is given: the keys
      // are derived here, at the bench's count, and registered as records.
      const accounts = await Promise.all(
        setup.usernames.map(async (username) => {
          const salt = randomBytes(16); // ejabberd's own salt length
          const keys = await deriveScramKeys(sha1 ? 'SCRAM-SHA-1' : 'SCRAM-SHA-256', setup.password, salt, setup.iterations);
          const b64 = (b: Buffer): string => `<<"${b.toString('base64')}">>`;
          return `{<<"${username}">>, ${b64(keys.storedKey)}, ${b64(keys.serverKey)}, ${b64(salt)}}.\n`;
        }),
      );
      const accountsFile = join(setup.dir, 'accounts.eterm');
      await writeFile(accountsFile, accounts.join(''));
      await register(setup, accountsFile, hash);
    },

    spawn(setup): ChildProcess {
      return spawn('erl', erlArgs(setup), { cwd: setup.dir, env: erlEnv(setup), stdio: ['ignore', 'pipe', 'pipe'] });
    },
  };
}

function installedVersion(): string | undefined {
  try {
    const out = execFileSync('dpkg-query', ['-W', '-f', '${Status} ${Version}', 'ejabberd'], { encoding: 'utf8', stdio: 'pipe' });
    return out.startsWith('install ok installed ') ? out.split(' ')[3] : undefined;
  } catch {
    return undefined;
  }
}

function systemdUnitActive(unit: string): boolean {
  return existsSync('/run/systemd/system') && spawnSync('systemctl', ['is-active', '--quiet', unit], { stdio: 'ignore', timeout: 30_000 }).status === 0;
}

/**
 * The package starts its own ejabberd (user ejabberd, default ports, and epmd)
 * where its init system lets it; the bench runs its own, so that one is stopped
 * and kept from starting at boot, and so is an epmd that only it needed.
 * Best effort: each step may find nothing to do.
 */
function stopPackageService(epmdWasActive: boolean): void {
  const quietly = (command: string, ...args: string[]): void => {
    spawnSync(command, args, { stdio: 'ignore', timeout: 120_000 });
  };
  if (existsSync('/run/systemd/system')) {
    quietly('systemctl', 'disable', '--now', 'ejabberd.service');
    if (!epmdWasActive) quietly('systemctl', 'stop', 'epmd.service');
  } else {
    // The init script's stop ends epmd too when no other node uses it.
    if (spawnSync('pgrep', ['-u', 'ejabberd'], { stdio: 'ignore' }).status === 0) quietly('/etc/init.d/ejabberd', 'stop');
    quietly('update-rc.d', 'ejabberd', 'disable');
  }
}

function config(setup: ServerSetup, hash: 'sha' | 'sha256', archiving: boolean): Record<string, unknown> {
  // shaper: none — also for WebSocket sessions, which take the first c2s listener's shaper.
  const c2s = { ip: '127.0.0.1', module: 'ejabberd_c2s', shaper: 'none', backlog: 1024, max_stanza_size: 262_144 };
  return {
    hosts: [setup.domain],
    loglevel: 'warning',
    log_rotate_count: 0,
    // One file for the certificate, one for its key: ejabberd pairs them itself.
    certfiles: [setup.certificate.cert, setup.certificate.key],
    auth_method: 'internal',
    auth_password_format: 'scram',
    auth_scram_hash: hash,
    // No server-to-server: no listener, no dialback, and no outgoing connections.
    s2s_access: 'none',
    listen: [
      { ...c2s, port: setup.ports.starttls, starttls_required: true },
      { ...c2s, port: setup.ports.directTls, tls: true },
      {
        port: setup.ports.https,
        ip: '127.0.0.1',
        module: 'ejabberd_http',
        tls: true,
        backlog: 1024,
        request_handlers: { '/xmpp-websocket': 'ejabberd_http_ws' },
      },
    ],
    // mod_mam's default preference is 'never' (archive nothing until a user asks);
    // 'always' archives every chat message, as the other archiving targets do.
    modules: archiving ? { ...MODULES, mod_mam: { default: 'always' } } : MODULES,
  };
}

function configFile(setup: ServerSetup): string {
  return join(setup.dir, 'ejabberd.yml');
}

/** Where Debian's ejabberdctl points the code path (the ejabberd application lives outside Erlang's own lib folder). */
function erlLibs(): string {
  const libs = /^ERL_LIBS='([^']+)'/m.exec(readFileSync(CTL, 'utf8'))?.[1];
  if (!libs) throw new Error(`no ERL_LIBS line in ${CTL}`);
  return libs;
}

function erlEnv(setup: ServerSetup): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HOME: setup.dir,
    EJABBERD_CONFIG_PATH: configFile(setup),
    EJABBERD_LOG_PATH: join(setup.dir, 'ejabberd.log'),
    ERL_LIBS: erlLibs(),
    ERL_CRASH_DUMP_BYTES: '0',
    // ejabberdctl's defaults, as an admin's ejabberd gets them.
    ERL_MAX_PORTS: '32000',
    ERL_MAX_ETS_TABLES: '1400',
  };
}

/** `erl` as ejabberdctl foreground runs it, less the node name and with the spool in the run's folder. */
function erlArgs(setup: ServerSetup, ...extra: string[]): string[] {
  const spool = join(setup.dir, 'spool');
  return ['-noinput', '+K', 'true', '+P', '250000', '-start_epmd', 'false', '-mnesia', 'dir', erlString(spool), '-s', 'ejabberd', ...extra];
}

function erlString(text: string): string {
  return `"${text.replace(/[\\"]/g, '\\$&')}"`;
}

/**
 * `ejabberdctl register` starts an Erlang node per account (~0.5 s each): one
 * start of ejabberd registers all of them instead, then stops, leaving them in
 * the spool for the runs.
 */
async function register(setup: ServerSetup, accountsFile: string, hash: string): Promise<void> {
  const code =
    `{ok, Accounts} = file:consult(${erlString(accountsFile)}),` +
    `Results = [ejabberd_auth:try_register(U, <<${erlString(setup.domain)}>>, {scram, StoredKey, ServerKey, Salt, ${hash}, ${setup.iterations}})` +
    ` || {U, StoredKey, ServerKey, Salt} <- Accounts],` +
    `Failed = [R || R <- Results, R =/= ok],` +
    `io:format("bench: registered ~b of ~b~n", [length(Results) - length(Failed), length(Results)]),` +
    `case Failed of [] -> init:stop(); [F | _] -> io:format("bench: first failure ~p~n", [F]), init:stop(1) end.`;
  const child = spawn('erl', erlArgs(setup, '-eval', code), { cwd: setup.dir, env: erlEnv(setup), stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  // Killed when it takes too long, and when the bench exits meanwhile (Ctrl-C).
  const kill = (): void => void child.kill('SIGKILL');
  const timer = setTimeout(kill, REGISTER_TIMEOUT_MS);
  process.once('exit', kill);
  const status = await new Promise<number | string | null>((resolve) => {
    child.once('error', (e) => resolve(e.message));
    child.once('exit', (code, signal) => resolve(code ?? signal));
  });
  clearTimeout(timer);
  process.off('exit', kill);
  const expected = `bench: registered ${setup.usernames.length} of ${setup.usernames.length}`;
  if (status !== 0 || !output.includes(expected)) {
    throw new Error(`registering ${setup.usernames.length} accounts in ejabberd failed (exit ${status}): ${output.trim().slice(-2000)}`);
  }
}
