// A real clamd per test file, from a temp folder, with a one-line signature
// database that detects only EICAR (never the system's configuration or
// databases). The EICAR string is kept base64-encoded so this repository
// never trips a scanner itself.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const EICAR_B64 = 'WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo=';

/** The 68-byte EICAR test file. */
export function eicar(): Buffer {
  return Buffer.from(EICAR_B64, 'base64');
}

/** Writes the one-signature (EICAR) database into dir, for a clamd of our own or a managed one. */
export function writeEicarDatabase(dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'test.ndb'), `Eicar-Test-Signature-Body:0:*:${eicar().toString('hex')}\n`);
}

export interface TestClamd {
  socket: string;
  stop(): Promise<void>;
}

function pong(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socket);
    let reply = '';
    s.setTimeout(1000, () => s.destroy());
    s.on('connect', () => s.write('zPING\0'));
    s.on('data', (d) => (reply += d.toString()));
    s.on('close', () => resolve(reply.startsWith('PONG')));
    s.on('error', () => undefined);
  });
}

export async function startClamd(): Promise<TestClamd> {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-clamd-'));
  writeEicarDatabase(join(dir, 'db'));
  mkdirSync(join(dir, 'tmp'));
  const socket = join(dir, 'clamd.sock');
  writeFileSync(
    join(dir, 'clamd.conf'),
    [
      'Foreground yes',
      `LocalSocket ${socket}`,
      'FixStaleSocket yes',
      `DatabaseDirectory ${join(dir, 'db')}`,
      `TemporaryDirectory ${join(dir, 'tmp')}`,
      `LogFile ${join(dir, 'clamd.log')}`,
      'StreamMaxLength 64M',
      'MaxThreads 4',
      'SelfCheck 0',
      'Bytecode no',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('clamd', [`--config-file=${join(dir, 'clamd.conf')}`], { stdio: 'ignore' });
  let exited = false;
  child.once('exit', () => (exited = true));
  const stop = async () => {
    if (!exited) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 300; i++) {
    if (exited) break;
    if (await pong(socket)) return { socket, stop };
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error('clamd did not start (is clamav-daemon installed? scripts/install-test-deps.sh)');
}
