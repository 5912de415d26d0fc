// What the router and modules may know of a bound client session, whatever its
// transport (TCP, direct TLS, later WebSocket).
import type { Element } from '../xmpp/element.ts';
import type { StreamErrorCondition } from '../xmpp/errors.ts';
import type { JID } from '../xmpp/jid.ts';
import type { SessionSecurity } from '../policy/types.ts';

export interface ClientSession {
  readonly id: string;
  /** Full JID, set once the resource is bound. */
  readonly jid: JID;
  readonly ip: string;
  readonly security: SessionSecurity;
  readonly connectedAt: Date;
  /**
   * What the client said about itself at SASL2 authentication (XEP-0388
   * <user-agent/>), when it used SASL2; the sessions module lists it.
   */
  readonly userAgent?: { readonly id?: string; readonly software?: string; readonly device?: string };
  /** Sent initial presence and not yet unavailable (RFC 6121 §4.2). */
  available: boolean;
  priority: number;
  /** Last broadcast presence, for probes and new resources. */
  presence: Element | undefined;
  send(stanza: Element): void;
  close(condition?: StreamErrorCondition, text?: string): void;
}
