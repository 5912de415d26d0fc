// What the server knows of each bound session, for `palisade sessions list`
// and for the decisions about it: who, from where, how it authenticated, and
// what client it is (its XEP-0092 answer, its XEP-0115 caps, its SASL2
// user-agent).
import type { ClientSession } from '../../core/session.ts';

export interface ClientSoftware {
  software?: string;
  version?: string;
  os?: string;
}

export interface SessionInfo {
  account: string;
  resource: string;
  ip: string;
  tls_version: string | null;
  sasl_mechanism: string | null;
  channel_binding: string | null;
  /** The answer to the server's software version query; null while asked or when the client did not answer. */
  client: ClientSoftware | null;
  /** 'pending' while the version query is out, 'answered', or 'unknown' (no usable answer in time). */
  client_status: 'pending' | 'answered' | 'unknown';
  caps: { node: string; ver: string } | null;
  user_agent: { id?: string; software?: string; device?: string } | null;
  available: boolean;
  started_at: string;
}

/** Longest client name, version and OS text kept (they come from the client). */
export const MAX_CLIENT_TEXT = 100;

export function clip(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  // Control characters would garble the operator's terminal.
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, ' ').trim();
  return clean === '' ? undefined : [...clean].slice(0, MAX_CLIENT_TEXT).join('');
}

/** Mutable per-session state the module keeps; snapshot() gives the listing form. */
export class SessionRecord {
  readonly session: ClientSession;
  client: ClientSoftware | null = null;
  clientStatus: SessionInfo['client_status'] = 'pending';
  caps: { node: string; ver: string } | null = null;
  examined = false;
  /** Examines the session should it send no presence in time. */
  examineTimer: NodeJS.Timeout | undefined;

  constructor(session: ClientSession) {
    this.session = session;
  }

  snapshot(): SessionInfo {
    const s = this.session;
    const ua = s.userAgent;
    return {
      account: s.jid.bareString(),
      resource: s.jid.resource,
      ip: s.ip,
      tls_version: s.security.tlsVersion ?? null,
      sasl_mechanism: s.security.mechanism ?? null,
      channel_binding: s.security.channelBinding ?? null,
      client: this.client,
      client_status: this.clientStatus,
      caps: this.caps,
      user_agent: ua ? { id: clip(ua.id), software: clip(ua.software), device: clip(ua.device) } : null,
      available: s.available,
      started_at: s.connectedAt.toISOString(),
    };
  }

  /** How the client is named to people: 'Gajim 1.8.4', else its caps node, else 'an unknown client'. */
  describeClient(): string {
    if (this.client?.software) return [this.client.software, this.client.version].filter(Boolean).join(' ');
    if (this.session.userAgent?.software) return clip(this.session.userAgent.software)!;
    if (this.caps) return clip(this.caps.node)!;
    return 'an unknown client';
  }

  /** The client's identity for new-device detection: its name, lower case, without the version. */
  clientKey(): string {
    const name = this.client?.software ?? clip(this.session.userAgent?.software) ?? this.caps?.node;
    return name ? name.toLowerCase() : 'unknown';
  }
}
