// What a benchmark target (a server under test) provides. Adding a server means
// one file in this folder implementing Target, listed in bench/run.ts.
import type { ChildProcess } from 'node:child_process';
import type { ScramMechanism } from '../loadgen/scram.ts';

export interface ServerSetup {
  /** A fresh, empty temporary folder the target owns until the run ends. */
  dir: string;
  domain: string;
  /** Loopback ports chosen free for this instance; https serves XMPP over WebSocket at /xmpp-websocket. */
  ports: { starttls: number; directTls: number; https: number };
  /** Local parts of the accounts to create, all with `password`. */
  usernames: string[];
  password: string;
  iterations: number;
  /** Set when the run forces one mechanism; a target that stores keys per hash uses it. */
  mechanism: ScramMechanism | undefined;
  /** Self-signed certificate and key (PEM files) shared by all targets. */
  certificate: { cert: string; key: string };
}

export interface Target {
  readonly name: string;
  /** Where chat messages are archived, for the table's notes; undefined: they are not. */
  readonly archive: string | undefined;
  /** Run only these scenarios (a variant measured for one question); undefined: all. */
  readonly scenarios?: readonly string[];
  /** Why it cannot run here, or undefined when it can. May install it (only used with --compare). */
  availability(): Promise<string | undefined>;
  version(): Promise<string>;
  /** Writes configuration and accounts into setup.dir. */
  prepare(setup: ServerSetup): Promise<void>;
  /** Spawns the server in the foreground; the runner waits for readiness and stops it by PID. */
  spawn(setup: ServerSetup): ChildProcess;
}
