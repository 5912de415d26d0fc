// Prosody from Debian, configured for a fair measurement: no mod_limits (10 kB/s
// per connection in Debian's config), a large accept backlog, TLS required, and a
// small module set; accounts written directly in its internal_hashed format.
// Optionally with mod_mam, to compare archiving with archiving.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { deriveScramKeys } from '../loadgen/scram.ts';
import type { ServerSetup, Target } from './target.ts';

// Palisade's default module set (roster, disco, ping, version; message, presence
// and iq are built into Prosody), plus SASL and TLS, posix for the pidfile, and
// websocket (RFC 7395 on the HTTPS port, as Palisade serves it). roster answers
// the roster get without which Prosody delivers no subscription request to a
// session (the fanoutnet scenario's set-up); Prosody has no roster size or
// subscription rate limit to raise. Group chat is a Component (see config()).
const MODULES = ['saslauth', 'tls', 'roster', 'disco', 'ping', 'version', 'posix', 'websocket'];

export const prosody = prosodyTarget(false);
/** With mod_mam in its internal (file) storage; used only for the chat scenarios (messages, websocket, latency). */
export const prosodyMam = prosodyTarget(true);

function prosodyTarget(archiving: boolean): Target {
  return {
    name: archiving ? 'prosody-mam' : 'prosody',
    archive: archiving ? 'mod_mam, internal storage (files)' : undefined,
    scenarios: archiving ? ['messages', 'websocket', 'latency'] : undefined,

    async availability() {
      if (installedVersion()) return undefined;
      process.stderr.write('prosody is not installed; installing it with apt-get…\n');
      const apt = spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', 'prosody'], {
        stdio: ['ignore', 'ignore', 'inherit'],
        timeout: 900_000,
      });
      return installedVersion() ? undefined : `apt-get install prosody failed (exit ${apt.status ?? apt.error?.message})`;
    },

    async version() {
      return installedVersion() ?? 'unknown';
    },

    async prepare(setup) {
      const hash = setup.mechanism === 'SCRAM-SHA-1' ? 'SHA-1' : 'SHA-256';
      await writeFile(join(setup.dir, 'prosody.cfg.lua'), config(setup, hash, archiving ? [...MODULES, 'mam'] : MODULES));
      const accounts = join(setup.dir, 'data', encode(setup.domain), 'accounts');
      await mkdir(accounts, { recursive: true });
      await mkdir(join(setup.dir, 'certs'));
      // prosodyctl register takes ~0.1 s per account; the file format is a Lua table.
      await Promise.all(
        setup.usernames.map(async (username) => {
          const salt = crypto.randomUUID(); // Prosody's own choice of salt
          const keys = await deriveScramKeys(
            hash === 'SHA-1' ? 'SCRAM-SHA-1' : 'SCRAM-SHA-256',
            setup.password,
            Buffer.from(salt),
            setup.iterations,
          );
          const account =
            `return {\n\t["stored_key"] = "${keys.storedKey.toString('hex')}";\n\t["server_key"] = "${keys.serverKey.toString('hex')}";\n` +
            `\t["salt"] = "${salt}";\n\t["iteration_count"] = ${setup.iterations};\n};\n`;
          await writeFile(join(accounts, `${encode(username)}.dat`), account);
        }),
      );
    },

    spawn(setup): ChildProcess {
      return spawn('prosody', ['-F', '--config', join(setup.dir, 'prosody.cfg.lua')], {
        cwd: setup.dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    },
  };
}

function installedVersion(): string | undefined {
  try {
    const out = execFileSync('dpkg-query', ['-W', '-f', '${Status} ${Version}', 'prosody'], { encoding: 'utf8', stdio: 'pipe' });
    return out.startsWith('install ok installed ') ? out.split(' ')[3] : undefined;
  } catch {
    return undefined;
  }
}

function config(setup: ServerSetup, hash: string, modules: string[]): string {
  const d = setup.dir;
  return `-- Written by Palisade's bench for one run.
run_as_root = true
pidfile = "${d}/prosody.pid"
data_path = "${d}/data"
certificates = "${d}/certs"
log = { warn = "${d}/prosody.log" }
interfaces = { "127.0.0.1" }
c2s_ports = { ${setup.ports.starttls} }
c2s_direct_tls_ports = { ${setup.ports.directTls} }
-- WebSocket over TLS only (request.secure, so c2s_require_encryption holds); no plain HTTP port.
https_ports = { ${setup.ports.https} }
http_ports = { }
-- The load generator's Host header is 127.0.0.1:port, which names no VirtualHost.
http_default_host = "${setup.domain}"
network_settings = { tcp_backlog = 1024 }
modules_enabled = { ${modules.map((m) => `"${m}"`).join('; ')} }
modules_disabled = { "s2s" }
ssl = { certificate = "${setup.certificate.cert}"; key = "${setup.certificate.key}" }
c2s_require_encryption = true
authentication = "internal_hashed"
password_hash = "${hash}"
default_iteration_count = ${setup.iterations}
VirtualHost "${setup.domain}"
-- Group chat, as Palisade's muc module serves it. Prosody's mod_muc has no
-- occupant or message rate limit; new rooms stay locked until configured (the
-- mucnet scenario's owner accepts the defaults, as on the other servers). No mod_muc_mam.
Component "conference.${setup.domain}" "muc"
restrict_room_creation = false
`;
}

/** util.datamanager's encoding of host and user names in paths (Lua's %W → %xx). */
function encode(name: string): string {
  return name.replace(/[^a-zA-Z0-9]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
