// XEP-0198 counters and the queue of unacknowledged stanzas for one session.
// Both 'h' values are unsigned 32-bit and wrap to 0 after 2^32 - 1 (§4).
import type { Element } from '../xmpp/element.ts';

const H_MODULUS = 2 ** 32;

export type AckOutcome = { ok: true; acked: number } | { ok: false; sent: number };

export class StreamManagementState {
  /** Stanzas from the client that the server has handled. */
  handled: number;
  /** Stanzas sent to the client, in order, that it has not acknowledged yet. */
  readonly unacked: Element[] = [];
  /** Token for resumption; undefined when the client did not ask for it. */
  resumeToken: string | undefined;
  private sent: number;
  private lastAck: number;

  /** `start` exists so tests can begin next to the wrap-around point. */
  constructor(start = 0) {
    this.handled = start;
    this.sent = start;
    this.lastAck = start;
  }

  get sentCount(): number {
    return this.sent;
  }

  countHandled(): void {
    this.handled = (this.handled + 1) % H_MODULUS;
  }

  countSent(stanza: Element): void {
    this.unacked.push(stanza);
    this.sent = (this.sent + 1) % H_MODULUS;
  }

  /** The client says it has handled h stanzas in all; drops those from the queue. */
  ack(h: number): AckOutcome {
    const delta = (((h - this.lastAck) % H_MODULUS) + H_MODULUS) % H_MODULUS;
    if (delta > this.unacked.length) return { ok: false, sent: this.sent };
    this.unacked.splice(0, delta);
    this.lastAck = h;
    return { ok: true, acked: delta };
  }
}

/** Parses an 'h' attribute: an unsigned 32-bit decimal integer. */
export function parseH(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,10}$/.test(value)) return undefined;
  const h = Number(value);
  return h < H_MODULUS ? h : undefined;
}
