// The local registry of bound sessions: bare JID → resource → session.
import type { ClientSession } from './session.ts';
import type { JID } from '../xmpp/jid.ts';

export class SessionRegistry {
  private readonly byBare = new Map<string, Map<string, ClientSession>>();
  private total = 0;

  get size(): number {
    return this.total;
  }

  get(full: JID): ClientSession | undefined {
    return this.byBare.get(full.bareString())?.get(full.resource);
  }

  /** All sessions of an account, in bind order. */
  ofAccount(bare: JID | string): ClientSession[] {
    const key = typeof bare === 'string' ? bare : bare.bareString();
    const m = this.byBare.get(key);
    return m ? [...m.values()] : [];
  }

  /** The sessions a message to the bare JID goes to: available, priority ≥ 0 (RFC 6121 §8.5.2.1). */
  deliverable(bare: JID | string): ClientSession[] {
    return this.ofAccount(bare).filter((s) => s.available && s.priority >= 0);
  }

  /** Registers a session; returns the session it replaces (same full JID), if any. */
  add(session: ClientSession): ClientSession | undefined {
    const key = session.jid.bareString();
    let m = this.byBare.get(key);
    if (!m) {
      m = new Map();
      this.byBare.set(key, m);
    }
    const previous = m.get(session.jid.resource);
    if (!previous) this.total++;
    m.set(session.jid.resource, session);
    return previous;
  }

  /** Removes the session if it is still the registered one for its full JID. */
  remove(session: ClientSession): boolean {
    const key = session.jid.bareString();
    const m = this.byBare.get(key);
    if (!m || m.get(session.jid.resource) !== session) return false;
    m.delete(session.jid.resource);
    if (m.size === 0) this.byBare.delete(key);
    this.total--;
    return true;
  }

  all(): IterableIterator<ClientSession> {
    const maps = this.byBare.values();
    return (function* () {
      for (const m of maps) yield* m.values();
    })();
  }
}
