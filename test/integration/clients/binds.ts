// Server-side record of each session bound while a test runs: the mechanism and
// channel binding the server accepted, for clients that exit (or don't tell)
// before the test could look at ts.server.sessions.
import type { ClientSession } from '../../../src/core/session.ts';
import type { SessionSecurity } from '../../../src/policy/types.ts';
import type { TestServer } from '../../helpers/server.ts';

export interface BindRecord {
  jid: string;
  security: SessionSecurity;
}

export interface BindRecorder {
  readonly binds: BindRecord[];
  /** The binds of one account (bare JID). */
  of(bare: string): BindRecord[];
  stop(): void;
}

export function recordBinds(ts: TestServer): BindRecorder {
  const binds: BindRecord[] = [];
  const listener = (s: ClientSession) => binds.push({ jid: s.jid.toString(), security: { ...s.security } });
  ts.server.events.on('session-bound', listener);
  return {
    binds,
    of: (bare) => binds.filter((b) => b.jid.startsWith(`${bare}/`)),
    stop: () => ts.server.events.off('session-bound', listener),
  };
}
