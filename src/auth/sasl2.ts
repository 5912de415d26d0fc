// SASL2 (XEP-0388) requests as data: what an <authenticate/> asks for — the
// mechanism and its initial response, the client's user-agent, an inline
// Bind 2 request (XEP-0386) and FAST token requests or use (XEP-0484) — checked
// against the limits here before any credential is looked at.
import type { Element } from '../xmpp/element.ts';
import { JidError, jid } from '../xmpp/jid.ts';
import { SCRAM_MAX_MESSAGE_BYTES } from './scram-syntax.ts';

export const NS_SASL2 = 'urn:xmpp:sasl:2';
export const NS_BIND2 = 'urn:xmpp:bind:0';
export const NS_FAST = 'urn:xmpp:fast:0';

/** Largest SASL message accepted in <initial-response/> or <response/>, decoded. */
export const SASL2_MAX_DATA_BYTES = SCRAM_MAX_MESSAGE_BYTES;
/** Longest Bind 2 tag: it becomes the first part of a resource other people see. */
export const BIND2_MAX_TAG_CHARS = 64;
/** Longest user-agent <software/> or <device/> text kept. */
export const USER_AGENT_MAX_CHARS = 256;

/**
 * The client as it describes itself in SASL2 (<user-agent/>), kept on the
 * session as `session.userAgent`. `id` is a UUID, stable per installation.
 */
export interface UserAgent {
  readonly id: string | undefined;
  readonly software: string | undefined;
  readonly device: string | undefined;
}

export interface Bind2Request {
  tag: string | undefined;
  /** XEP-0198 <enable/> inline; resume: its 'resume' attribute. */
  sm: { resume: boolean } | undefined;
  /** XEP-0352 state to start in. */
  csi: 'active' | 'inactive' | undefined;
  /** XEP-0280 <enable/> inline. */
  carbons: boolean;
}

export interface Sasl2Request {
  mechanism: string;
  initialResponse: Buffer | undefined;
  userAgent: UserAgent | undefined;
  bind: Bind2Request | undefined;
  /** <request-token mechanism=.../>: the FAST mechanism the client wants a token for. */
  requestToken: string | undefined;
  /** <fast/>: the client authenticates with a token. */
  fast: { count: number | undefined; invalidate: boolean } | undefined;
  /** XEP-0198 <resume/> inline: checked like the stream element once authenticated. */
  resume: { previd: string | undefined; h: string | undefined } | undefined;
}

export interface Sasl2Refusal {
  condition: string;
  text: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const CARBONS = 'urn:xmpp:carbons:2';
const SM = 'urn:xmpp:sm:3';
const CSI = 'urn:xmpp:csi:0';

function refuse(condition: string, text: string): Sasl2Refusal {
  return { condition, text };
}

export function isRefusal(v: object): v is Sasl2Refusal {
  return 'condition' in v;
}

/** SASL data as sent in SASL2: base64, whitespace ignored, empty element = empty message. */
export function parseSaslData(text: string): Buffer | Sasl2Refusal {
  const t = text.replace(/[ \t\r\n]/g, '');
  if (t.length > Math.ceil(SASL2_MAX_DATA_BYTES / 3) * 4) {
    return refuse('malformed-request', `The SASL message is larger than ${SASL2_MAX_DATA_BYTES} bytes.`);
  }
  if (t === '') return Buffer.alloc(0);
  // Canonical base64 only: Buffer.from() alone would accept and silently drop garbage.
  if (!BASE64.test(t) || Buffer.from(t, 'base64').toString('base64') !== t) return refuse('incorrect-encoding', 'The SASL data is not valid base64.');
  return Buffer.from(t, 'base64');
}

function limitedText(el: Element | undefined, what: string): string | undefined | Sasl2Refusal {
  if (!el) return undefined;
  const text = el.text.trim();
  if ([...text].length > USER_AGENT_MAX_CHARS) return refuse('malformed-request', `The user-agent ${what} is longer than ${USER_AGENT_MAX_CHARS} characters.`);
  return text === '' ? undefined : text;
}

function parseUserAgent(el: Element | undefined): UserAgent | undefined | Sasl2Refusal {
  if (!el) return undefined;
  const id = el.attrs.id;
  if (id !== undefined && !UUID.test(id)) return refuse('malformed-request', "The user-agent 'id' must be a UUID.");
  const software = limitedText(el.getChild('software', NS_SASL2), 'software');
  if (typeof software === 'object') return software;
  const device = limitedText(el.getChild('device', NS_SASL2), 'device');
  if (typeof device === 'object') return device;
  return { id: id?.toLowerCase(), software, device };
}

function parseBind(el: Element | undefined): Bind2Request | undefined | Sasl2Refusal {
  if (!el) return undefined;
  const tagEl = el.getChild('tag', NS_BIND2);
  let tag: string | undefined;
  if (tagEl) {
    tag = tagEl.text;
    if (tag === '' || [...tag].length > BIND2_MAX_TAG_CHARS) {
      return refuse('malformed-request', `The bind tag must be 1 to ${BIND2_MAX_TAG_CHARS} characters.`);
    }
    try {
      jid('check', 'example.invalid').withResource(tag);
    } catch (err) {
      if (!(err instanceof JidError)) throw err;
      return refuse('malformed-request', `The bind tag can't be part of a resource: ${err.reason}`);
    }
  }
  const sm = el.getChild('enable', SM);
  const csi = el.elements.find((c) => c.ns === CSI && (c.name === 'active' || c.name === 'inactive'));
  return {
    tag,
    sm: sm ? { resume: sm.attrs.resume === 'true' || sm.attrs.resume === '1' } : undefined,
    csi: csi?.name as 'active' | 'inactive' | undefined,
    carbons: el.getChild('enable', CARBONS) !== undefined,
  };
}

function parseFast(el: Element | undefined): Sasl2Request['fast'] | Sasl2Refusal {
  if (!el) return undefined;
  let count: number | undefined;
  if (el.attrs.count !== undefined) {
    if (!/^[1-9][0-9]{0,14}$/.test(el.attrs.count)) return refuse('malformed-request', "The FAST 'count' must be a positive integer.");
    count = Number(el.attrs.count);
  }
  return { count, invalidate: el.attrs.invalidate === 'true' || el.attrs.invalidate === '1' };
}

/** Reads an <authenticate/>; a refusal names the SASL condition and says why. */
export function parseAuthenticate(el: Element): Sasl2Request | Sasl2Refusal {
  const mechanism = el.attrs.mechanism ?? '';
  if (mechanism === '') return refuse('invalid-mechanism', "The 'mechanism' attribute is missing.");
  // No <upgrade/> is offered, so any upgrade task is one the server never announced (XEP-0388 §2.3).
  if (el.attrs.upgrade !== undefined) return refuse('invalid-mechanism', 'This server offers no upgrade tasks.');
  const ir = el.getChild('initial-response', NS_SASL2);
  const initialResponse = ir ? parseSaslData(ir.text) : undefined;
  if (initialResponse && !Buffer.isBuffer(initialResponse)) return initialResponse;
  const userAgent = parseUserAgent(el.getChild('user-agent', NS_SASL2));
  if (userAgent && isRefusal(userAgent)) return userAgent;
  const bind = parseBind(el.getChild('bind', NS_BIND2));
  if (bind && isRefusal(bind)) return bind;
  const fast = parseFast(el.getChild('fast', NS_FAST));
  if (fast && isRefusal(fast)) return fast;
  const requestToken = el.getChild('request-token', NS_FAST)?.attrs.mechanism;
  if ((fast || requestToken !== undefined) && userAgent?.id === undefined) {
    return refuse('malformed-request', "FAST tokens belong to a client: send <user-agent id='…'/> with a UUID.");
  }
  const resumeEl = el.getChild('resume', SM);
  const resume = resumeEl ? { previd: resumeEl.attrs.previd, h: resumeEl.attrs.h } : undefined;
  return { mechanism, initialResponse, userAgent, bind, requestToken, fast, resume };
}
