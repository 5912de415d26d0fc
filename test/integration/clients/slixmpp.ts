// Runs clients/slix_client.py with Debian's Python (which has python3-slixmpp;
// the python3 first on PATH may be another one without it).
import { fileURLToPath } from 'node:url';
import { baseEnv, describeRun, run, type ProcessResult } from './process.ts';

export const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./slix_client.py', import.meta.url));

export interface SlixResult {
  ok: boolean;
  error: string | null;
  library: string;
  jid: string | null;
  mechanism: string | null;
  /** The gs2 channel-binding flag slixmpp sent: "p=<type>", "y" or "n". */
  channel_binding: string | null;
  tls_version: string | null;
  sasl_failures: { mechanism: string | null; channel_binding: string | null; condition: string; text: string }[];
  received: { from: string; to: string; type: string; body: string } | null;
}

export interface SlixOptions {
  host: string;
  port: number;
  jid: string;
  password: string;
  caFile: string;
  directTls: boolean;
  peer?: string;
  body?: string;
  timeoutSeconds?: number;
}

/** Fails with what to install when Debian's python3-slixmpp is missing. */
export async function assertSlixmppInstalled(): Promise<string> {
  let r: ProcessResult;
  try {
    r = await run(PYTHON, ['-c', 'import slixmpp; print(slixmpp.__version__)'], { timeoutMs: 10_000 });
  } catch (err) {
    throw new Error(`${PYTHON} not found (${(err as Error).message}); install Debian's python3-slixmpp`);
  }
  if (r.code !== 0) throw new Error(`slixmpp is not importable by ${PYTHON}; install Debian's python3-slixmpp\n${describeRun(r)}`);
  return r.stdout.trim();
}

export async function runSlix(o: SlixOptions): Promise<{ result: SlixResult; run: ProcessResult }> {
  const timeout = o.timeoutSeconds ?? 15;
  const r = await run(PYTHON, [SCRIPT], {
    env: baseEnv({
      XMPP_HOST: o.host,
      XMPP_PORT: String(o.port),
      XMPP_JID: o.jid,
      XMPP_PASSWORD: o.password,
      XMPP_CA: o.caFile,
      XMPP_DIRECT_TLS: o.directTls ? '1' : '0',
      XMPP_PEER: o.peer,
      XMPP_BODY: o.body,
      XMPP_TIMEOUT: String(timeout),
      XMPP_DEBUG: process.env.SLIX_DEBUG === '1' ? '1' : '0',
    }),
    timeoutMs: (timeout + 10) * 1000,
  });
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  let result: SlixResult;
  try {
    result = JSON.parse(line) as SlixResult;
  } catch {
    throw new Error(`slix_client.py printed no JSON result\n${describeRun(r)}`);
  }
  return { result, run: r };
}
