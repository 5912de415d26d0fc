// The XML stream parser, restricted to the subset XMPP allows (RFC 6120 §11):
// no DTD, comments, processing instructions or entities beyond the five
// predefined ones, with limits checked as bytes arrive so that a peer can never
// make us hold more than about one stanza in memory. saxes tokenizes; this file
// enforces the restrictions and limits and builds normalised Element trees.
import { SaxesParser, type SaxesAttributeNS, type SaxesStartTagNS, type SaxesTagNS, type XMLDecl } from 'saxes';
import { Element, type Attrs } from '../xmpp/element.ts';
import { NS } from '../xmpp/ns.ts';

export interface XmlLimits {
  /** Bytes of one top-level element, from its '<' to the end of its end tag; also caps the stream header. */
  maxStanzaBytes: number;
  /** Nesting depth inside a stanza; the stanza itself is depth 1. */
  maxDepth: number;
  /** Attributes per element, namespace declarations included. */
  maxAttributes: number;
  /** UTF-8 bytes of one attribute value (after entity decoding). */
  maxAttributeBytes: number;
  /** UTF-8 bytes of an element or attribute name, prefix included. */
  maxNameBytes: number;
}

export const DEFAULT_XML_LIMITS: Readonly<XmlLimits> = Object.freeze({
  maxStanzaBytes: 262144,
  maxDepth: 32,
  maxAttributes: 64,
  maxAttributeBytes: 8192,
  maxNameBytes: 256,
});

/** Stream error conditions (RFC 6120 §4.9.3) the parser can report. */
export type XmlErrorCondition =
  | 'not-well-formed'
  | 'restricted-xml'
  | 'policy-violation'
  | 'invalid-namespace'
  | 'bad-format'
  | 'unsupported-encoding';

export interface XmlStreamHandlers {
  /** Attributes of the stream header by qualified name; `xmlns` is the content namespace. */
  streamStart(attrs: Record<string, string>): void;
  /** Each complete top-level child of the stream. */
  stanza(el: Element): void;
  /** `</stream:stream>` was received. */
  streamEnd(): void;
  /** Called at most once; the parser then ignores all further input. */
  error(condition: XmlErrorCondition, text: string): void;
}

export class XmlParseError extends Error {
  readonly condition: XmlErrorCondition;
  constructor(condition: XmlErrorCondition, message: string) {
    super(message);
    this.name = 'XmlParseError';
    this.condition = condition;
  }
}

/**
 * Incremental parser for one XML stream. Handlers are only called between
 * saxes runs, never from inside saxes; an exception thrown by a handler
 * propagates out of write() and the parser then ignores further input.
 */
export class XmlStreamParser {
  private core: Core | undefined;

  constructor(handlers: XmlStreamHandlers, limits?: Partial<XmlLimits>) {
    this.core = new Core(resolveLimits(limits), true, handlers);
  }

  /** Accepts any chunking, split at any byte. Never throws for any input. */
  write(chunk: Buffer): void {
    const core = this.core;
    if (core === undefined) return;
    try {
      core.write(chunk);
    } finally {
      // Reached with core.done false only when a handler threw.
      if (core.done || !core.idle) this.core = undefined;
    }
  }

  /** Bytes held for the top-level element (or stream header) in progress. */
  get bufferedBytes(): number {
    return this.core?.buffered ?? 0;
  }
}

/**
 * Parses exactly one complete element (e.g. one RFC 7395 WebSocket message).
 * The returned element always carries its namespace in attrs.xmlns ('' for
 * none), since there is no stream to inherit a content namespace from.
 */
export function parseElement(xml: string | Buffer, limits?: Partial<XmlLimits>): Element {
  // Buffer.from would silently turn a lone surrogate into U+FFFD.
  if (typeof xml === 'string' && LONE_SURROGATE.test(xml)) {
    throw new XmlParseError('not-well-formed', 'string contains a lone surrogate');
  }
  let result: Element | undefined;
  let error: XmlParseError | undefined;
  const core = new Core(resolveLimits(limits), false, {
    streamStart: () => undefined,
    stanza: (el) => {
      result = el;
    },
    streamEnd: () => undefined,
    error: (condition, text) => {
      error = new XmlParseError(condition, text);
    },
  });
  core.write(typeof xml === 'string' ? Buffer.from(xml, 'utf8') : xml);
  core.finish();
  if (error !== undefined) throw error;
  if (result === undefined) throw new XmlParseError('not-well-formed', 'no complete element');
  return result;
}

/** Checked limits by the object they were given as: every stream of a server (three per login) shares one. */
const RESOLVED = new WeakMap<Partial<XmlLimits>, XmlLimits>();

function resolveLimits(limits: Partial<XmlLimits> | undefined): XmlLimits {
  if (limits === undefined) return DEFAULT_XML_LIMITS;
  const known = RESOLVED.get(limits);
  if (known) return known;
  const out = { ...DEFAULT_XML_LIMITS, ...limits };
  for (const [key, value] of Object.entries(out)) {
    // Config validation should have caught this; refuse rather than clamp.
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`XML limit ${key} must be a positive integer, got ${value}`);
  }
  RESOLVED.set(limits, out);
  return out;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const WHITESPACE = /^[ \t\r\n]*$/;
const EMPTY = Buffer.alloc(0);
// A BOM is passed through (saxes skips it at the start) so that decoded text
// always accounts for every byte consumed.
const DECODER_OPTIONS = { fatal: true, ignoreBOM: true };
// Input is fed to saxes in pieces of at most this many bytes, and limits are
// checked after each, so one huge write cannot grow a stanza unchecked.
const PIECE_BYTES = 16384;

/** Thrown from inside saxes callbacks to stop it at once; no condition means a clean stop. */
class Abort {
  constructor(
    readonly condition?: XmlErrorCondition,
    readonly text = '',
  ) {}
}
const STOP = new Abort();

type Output = { header: Attrs } | Element | 'end';

/** The fields saxes 6 keeps its event handlers in (what on() assigns), and the per-parser state trimmed between stanzas. */
interface SaxesInternals {
  xmldeclHandler(decl: XMLDecl): void;
  openTagStartHandler(tag: SaxesStartTagNS): void;
  attributeHandler(attr: SaxesAttributeNS): void;
  openTagHandler(tag: SaxesTagNS): void;
  closeTagHandler(): void;
  textHandler(text: string): void;
  cdataHandler(text: string): void;
  commentHandler(): void;
  piHandler(): void;
  doctypeHandler(): void;
  errorHandler(err: Error): void;
  /** The same prototype methods in every parser, in an array each parser builds for itself. */
  stateTable: unknown[];
  /** The predefined prefixes (xml, xmlns) and entities: copies each parser makes and only reads. */
  ns: Record<string, string>;
  ENTITIES: Record<string, string>;
  /** The tag last opened or closed, and its namespaces; saxes reads them only while a tag is open. */
  tag: SaxesTagNS | null;
  topNS: Record<string, string> | null;
  readonly tags: SaxesTagNS[];
  /** The text last written; saxes reads it only during write(). */
  chunk: string;
  /** Ours: how the shared handlers below find the parser's Core. */
  core: Core;
}

/** The handlers saxes calls with itself as `this` (.call(this, …)); the others it calls as plain functions. */
type SaxesMethodHandlers = Pick<
  SaxesInternals,
  'xmldeclHandler' | 'openTagStartHandler' | 'attributeHandler' | 'openTagHandler' | 'cdataHandler' | 'commentHandler' | 'piHandler' | 'doctypeHandler'
>;

/** Every parser's options: one object, not one per parser. */
const SAX_OPTIONS = { xmlns: true, forceXMLVersion: true, defaultXMLVersion: '1.0' } as const;
/** What saxes builds alike for every parser and never changes, taken from the first parser and shared by all later ones (one parser per stream). */
let shared: Pick<SaxesInternals, 'stateTable' | 'ns' | 'ENTITIES'> | undefined;
/** What an open root tag keeps of its attributes once the stream header is handled: nothing saxes reads again. */
const NO_ATTRIBUTES: SaxesTagNS['attributes'] = Object.freeze({});

interface Frame {
  el: Element;
  uri: string;
  /** Prefixes declared on this element. */
  decls: Record<string, string>;
}

/**
 * Shared by both entry points. In stream mode the root is <stream:stream> and
 * its children are the stanzas; in element mode the root is the one element.
 */
class Core {
  private readonly sax = new SaxesParser(SAX_OPTIONS);
  private readonly decoder = new TextDecoder('utf-8', DECODER_OPTIONS);
  /** The bytes of an incomplete UTF-8 sequence the decoder is holding. */
  private decoderLag = EMPTY;
  /** Items completed during the current piece; delivered after saxes returns. */
  private readonly out: Output[] = [];
  private readonly stack: Frame[] = [];

  done = false;
  /** False while delivering to the sink, so a throwing handler can be noticed. */
  idle = true;
  buffered = 0;

  private headerDone = false;
  private rootClosed = false;
  private contentNs = '';
  private attrCount = 0;
  /** Byte offset of the '<' of the top-level element in progress, or -1. */
  private stanzaStart = -1;
  /** Byte offset just after the last complete top-level item (header or stanza). */
  private boundary = 0;
  /** saxes position right after the last top-level close, to spot a mismatched end tag. */
  private lastTopClose = -1;

  // saxes reports positions as UTF-16 indexes; these map them to byte offsets
  // within the piece being parsed.
  private piece = '';
  private pieceStart = 0;
  private pieceStartBytes = 0;
  private pieceAscii = true;
  private cursor = 0;
  private cursorBytes = 0;
  private fed = 0;
  private fedBytes = 0;
  /** A trailing CR is held back so saxes never carries a character between pieces (which would skew positions). */
  private heldCR = false;

  constructor(
    private readonly limits: XmlLimits,
    private readonly streamMode: boolean,
    private readonly sink: XmlStreamHandlers,
  ) {
    // saxes' on() adds each handler with a computed-key store; after six of
    // those V8 turns the parser into a dictionary-mode object and parsing gets
    // about 4x slower. Plain named stores of the same fields keep it fast.
    const slots = this.sax as unknown as SaxesInternals;
    shared ??= { stateTable: slots.stateTable, ns: slots.ns, ENTITIES: slots.ENTITIES };
    slots.stateTable = shared.stateTable;
    slots.ns = shared.ns;
    slots.ENTITIES = shared.ENTITIES;
    // Shared functions that find this Core through one field, rather than a closure each per parser.
    slots.core = this;
    const m = Core.saxMethods;
    slots.xmldeclHandler = m.xmldeclHandler;
    slots.openTagStartHandler = m.openTagStartHandler;
    slots.attributeHandler = m.attributeHandler;
    slots.openTagHandler = m.openTagHandler;
    slots.cdataHandler = m.cdataHandler;
    slots.commentHandler = m.commentHandler;
    slots.piHandler = m.piHandler;
    slots.doctypeHandler = m.doctypeHandler;
    slots.closeTagHandler = () => this.onCloseTag();
    slots.textHandler = (text) => this.onText(text);
    slots.errorHandler = (err) => this.onError(err);
  }

  private static readonly saxMethods: SaxesMethodHandlers = {
    xmldeclHandler(this: SaxesInternals, decl) {
      this.core.onXmlDecl(decl);
    },
    openTagStartHandler(this: SaxesInternals, tag) {
      this.core.onOpenTagStart(tag);
    },
    attributeHandler(this: SaxesInternals, attr) {
      this.core.onAttribute(attr);
    },
    openTagHandler(this: SaxesInternals, tag) {
      this.core.onOpenTag(tag);
    },
    cdataHandler(this: SaxesInternals, text) {
      this.core.onText(text);
    },
    commentHandler(this: SaxesInternals) {
      this.core.refuse('restricted-xml', 'comments are not allowed');
    },
    piHandler(this: SaxesInternals) {
      this.core.refuse('restricted-xml', 'processing instructions are not allowed');
    },
    doctypeHandler(this: SaxesInternals) {
      this.core.refuse('restricted-xml', 'DTDs are not allowed');
    },
  };

  write(chunk: Buffer): void {
    for (let offset = 0; offset < chunk.length && !this.done; offset += PIECE_BYTES) {
      const part = chunk.subarray(offset, offset + PIECE_BYTES);
      let text: string;
      try {
        text = this.decoder.decode(part, { stream: true });
      } catch {
        this.failOnBadUtf8(part);
        return;
      }
      const bytes = Buffer.byteLength(text, 'utf8');
      const lag = this.decoderLag.length + part.length - bytes;
      this.decoderLag = lag === 0 ? EMPTY : Buffer.concat([this.decoderLag, part.subarray(-lag)]).subarray(-lag);
      this.feed(text, bytes, false);
    }
  }

  /**
   * Parses what precedes the bad sequence before failing, so that the outcome
   * (which stanzas were delivered) does not depend on how input was chunked.
   */
  private failOnBadUtf8(part: Buffer): void {
    const bytes = Buffer.concat([this.decoderLag, part]);
    const text = new TextDecoder('utf-8', DECODER_OPTIONS).decode(bytes.subarray(0, validUtf8Prefix(bytes)));
    this.feed(text, Buffer.byteLength(text, 'utf8'), false);
    if (!this.done) this.fail(new Abort('not-well-formed', 'invalid UTF-8'));
  }

  /** Element mode: the input is complete. */
  finish(): void {
    if (this.done) return;
    let rest: string;
    try {
      rest = this.decoder.decode();
    } catch {
      this.fail(new Abort('not-well-formed', 'truncated UTF-8 sequence'));
      return;
    }
    this.feed(rest, Buffer.byteLength(rest, 'utf8'), true);
    if (this.done) return;
    try {
      this.sax.close();
    } catch (e) {
      this.fail(e);
      return;
    }
    this.deliver();
  }

  private feed(text: string, bytes: number, final: boolean): void {
    if (this.heldCR) {
      text = '\r' + text;
      bytes++;
      this.heldCR = false;
    }
    if (!final && text.charCodeAt(text.length - 1) === 13) {
      text = text.slice(0, -1);
      bytes--;
      this.heldCR = true;
    }
    if (text.length === 0) return;
    this.piece = text;
    this.pieceStart = this.fed;
    this.pieceStartBytes = this.fedBytes;
    this.pieceAscii = bytes === text.length;
    this.cursor = 0;
    this.cursorBytes = this.fedBytes;
    this.fed += text.length;
    this.fedBytes += bytes;
    try {
      this.sax.write(text);
      this.checkPending();
    } catch (e) {
      if (e !== STOP) {
        this.fail(e);
        return;
      }
    }
    this.lastTopClose = -1;
    if (this.streamMode) this.trimBetweenStanzas();
    this.deliver();
    if (this.streamMode && this.rootClosed) this.finishQuietly();
  }

  /**
   * An idle stream keeps its parser for hours: between top-level elements let go
   * of the last chunk of text and the last stanza's tag, which saxes would
   * otherwise hold until the next input (a large stanza's chunk included).
   */
  private trimBetweenStanzas(): void {
    this.piece = '';
    if (!this.headerDone || this.stanzaStart >= 0) return;
    const sax = this.sax as unknown as SaxesInternals;
    sax.chunk = '';
    // Both point at the open root (where saxes leaves `tag` after a self-closing
    // element); saxes sets both anew before it reads them again.
    const root = sax.tags[sax.tags.length - 1];
    sax.tag = root ?? null;
    sax.topNS = root?.ns ?? null;
  }

  /** Bounds memory: everything since the start of the current top-level item counts. */
  private checkPending(): void {
    const from = this.stanzaStart >= 0 ? this.stanzaStart : this.boundary;
    this.buffered = this.fedBytes - from;
    const max = this.limits.maxStanzaBytes;
    if (this.buffered > max) {
      const what = this.streamMode && !this.headerDone ? 'stream header' : 'stanza';
      throw new Abort('policy-violation', `${what} exceeds ${max} bytes`);
    }
  }

  private deliver(): void {
    if (this.out.length === 0) return;
    this.idle = false;
    for (const item of this.out.splice(0)) {
      if (item === 'end') this.sink.streamEnd();
      else if (item instanceof Element) this.sink.stanza(item);
      else this.sink.streamStart(item.header);
    }
    this.idle = true;
  }

  private fail(e: unknown): void {
    const abort = e instanceof Abort ? e : new Abort('not-well-formed', e instanceof Error ? e.message : String(e));
    this.deliver();
    this.finishQuietly();
    this.sink.error(abort.condition ?? 'not-well-formed', abort.text);
  }

  private finishQuietly(): void {
    this.done = true;
    this.buffered = 0;
    this.stack.length = 0;
    this.piece = '';
  }

  private refuse(condition: XmlErrorCondition, text: string): never {
    this.stopIfEnded();
    throw new Abort(condition, text);
  }

  /** After </stream:stream> the rest of the input is ignored. */
  private stopIfEnded(): void {
    if (this.streamMode && this.rootClosed) throw STOP;
  }

  private onError(err: Error): never {
    // saxes reports a mismatched end tag only after it has emitted closetag,
    // at the same position: take back the item that close produced.
    if (this.sax.position === this.lastTopClose) {
      this.out.pop();
      throw new Abort('not-well-formed', err.message);
    }
    this.stopIfEnded();
    const msg = err.message;
    if (msg.includes('undefined entity')) {
      throw new Abort('restricted-xml', 'entity references other than the five predefined ones are not allowed');
    }
    if (msg.includes('doctype')) throw new Abort('restricted-xml', 'DTDs are not allowed');
    throw new Abort('not-well-formed', msg);
  }

  private onXmlDecl(decl: XMLDecl): void {
    if (decl.version !== '1.0') throw new Abort('not-well-formed', `XML version must be 1.0, got ${decl.version}`);
    if (decl.encoding !== undefined && decl.encoding.toLowerCase() !== 'utf-8') {
      throw new Abort('unsupported-encoding', `encoding must be UTF-8, got ${decl.encoding}`);
    }
  }

  private onOpenTagStart(tag: SaxesStartTagNS): void {
    this.stopIfEnded();
    if (this.rootClosed) throw new Abort('not-well-formed', 'only one element is allowed');
    this.attrCount = 0;
    this.checkName(tag.name, 'element');
    if (this.streamMode && !this.headerDone) return;
    const depth = this.stack.length + 1;
    if (depth > this.limits.maxDepth) {
      throw new Abort('policy-violation', `element nesting exceeds depth ${this.limits.maxDepth}`);
    }
    if (depth === 1) this.stanzaStart = this.tagStartBytes(tag.name);
  }

  private onAttribute(attr: SaxesAttributeNS): void {
    if (++this.attrCount > this.limits.maxAttributes) {
      throw new Abort('policy-violation', `element has more than ${this.limits.maxAttributes} attributes`);
    }
    this.checkName(attr.name, 'attribute');
    const max = this.limits.maxAttributeBytes;
    const v = attr.value;
    // A UTF-8 encoding is never shorter than the UTF-16 one, nor over 3x longer.
    if (v.length > max || (v.length * 3 > max && Buffer.byteLength(v, 'utf8') > max)) {
      throw new Abort('policy-violation', `attribute value exceeds ${max} bytes`);
    }
  }

  private checkName(name: string, what: string): void {
    const max = this.limits.maxNameBytes;
    if (name.length > max || (name.length * 3 > max && Buffer.byteLength(name, 'utf8') > max)) {
      throw new Abort('policy-violation', `${what} name exceeds ${max} bytes`);
    }
  }

  private onOpenTag(tag: SaxesTagNS): void {
    if (this.streamMode && !this.headerDone) {
      this.openStream(tag);
      return;
    }
    const parent = this.stack[this.stack.length - 1];
    const attrs: Attrs = {};
    // In element mode the root has no context, so it always states its namespace.
    const inherited = parent !== undefined ? parent.uri : this.streamMode ? this.contentNs : undefined;
    if (tag.uri !== inherited) attrs.xmlns = tag.uri;
    const list = tag.attributes;
    for (const name of Object.keys(list)) {
      if (name === 'xmlns') continue;
      const attr = list[name]!;
      attrs[name] = attr.value;
      if (attr.prefix !== '' && attr.prefix !== 'xmlns' && attr.prefix !== 'xml') {
        this.keepPrefixBound(attr.prefix, attr.uri, tag, attrs);
      }
    }
    const el = new Element(tag.local);
    el.attrs = attrs;
    if (parent !== undefined) parent.el.append(el);
    this.stack.push({ el, uri: tag.uri, decls: tag.ns });
  }

  /**
   * A prefixed attribute keeps its qualified name; if its prefix was declared
   * on the stream header, copy the declaration onto the stanza so the stanza
   * still serialises on its own.
   */
  private keepPrefixBound(prefix: string, uri: string, tag: SaxesTagNS, attrs: Attrs): void {
    if (tag.ns[prefix] !== undefined) return;
    for (const frame of this.stack) if (frame.decls[prefix] !== undefined) return;
    (this.stack[0]?.el.attrs ?? attrs)['xmlns:' + prefix] = uri;
  }

  private openStream(tag: SaxesTagNS): void {
    if (tag.local !== 'stream' || tag.uri !== NS.stream) {
      throw new Abort('invalid-namespace', `the root element must be <stream> in namespace ${NS.stream}`);
    }
    const content = tag.ns[''];
    if (content === undefined || content === '' || content === NS.stream) {
      throw new Abort('invalid-namespace', 'the stream header must declare a content namespace as its default namespace');
    }
    const end = this.bytesAt(this.sax.position);
    if (end > this.limits.maxStanzaBytes) {
      throw new Abort('policy-violation', `stream header exceeds ${this.limits.maxStanzaBytes} bytes`);
    }
    const header: Attrs = {};
    for (const name in tag.attributes) header[name] = tag.attributes[name]!.value;
    // The root stays on saxes' stack for the whole stream; its namespaces (tag.ns) are all saxes needs of it.
    tag.attributes = NO_ATTRIBUTES;
    this.contentNs = content;
    this.headerDone = true;
    this.boundary = end;
    this.out.push({ header });
  }

  private onCloseTag(): void {
    const frame = this.stack.pop();
    const pos = this.sax.position;
    if (frame === undefined) {
      // Only the stream root closes with no stanza open.
      this.rootClosed = true;
      this.lastTopClose = pos;
      this.out.push('end');
      return;
    }
    if (this.stack.length > 0) return;
    const end = this.bytesAt(pos);
    if (end - this.stanzaStart > this.limits.maxStanzaBytes) {
      throw new Abort('policy-violation', `stanza exceeds ${this.limits.maxStanzaBytes} bytes`);
    }
    this.stanzaStart = -1;
    this.boundary = end;
    this.lastTopClose = pos;
    if (!this.streamMode) this.rootClosed = true;
    this.out.push(frame.el);
  }

  private onText(text: string): void {
    this.stopIfEnded();
    const top = this.stack[this.stack.length - 1];
    if (top === undefined) {
      // Outside the root saxes refuses non-space itself; between stanzas only whitespace (keepalives) may appear.
      if (this.headerDone && !WHITESPACE.test(text)) throw new Abort('bad-format', 'text is not allowed between stanzas');
      return;
    }
    if (text.length === 0) return;
    // CDATA and text arrive as separate events; merge them so a tree re-parses the same.
    const children = top.el.children;
    const last = children.length - 1;
    if (last >= 0 && typeof children[last] === 'string') children[last] += text;
    else children.push(text);
  }

  /** Byte offset of the '<' of a tag whose name saxes has just read, with one delimiter after it. */
  private tagStartBytes(name: string): number {
    const pos = this.sax.position;
    const idx = pos - this.pieceStart;
    // The delimiter is one character, or two for CRLF (which saxes reads as one).
    const crlf = idx >= 2 && this.piece.charCodeAt(idx - 1) === 10 && this.piece.charCodeAt(idx - 2) === 13;
    return this.bytesAt(pos) - (crlf ? 2 : 1) - Buffer.byteLength(name, 'utf8') - 1;
  }

  /** Byte offset of a saxes position inside the current piece; positions only move forward. */
  private bytesAt(pos: number): number {
    const idx = Math.min(Math.max(pos - this.pieceStart, 0), this.piece.length);
    if (this.pieceAscii) return this.pieceStartBytes + idx;
    let i = this.cursor;
    let bytes = this.cursorBytes;
    if (idx < i) {
      i = 0;
      bytes = this.pieceStartBytes;
    }
    const s = this.piece;
    for (; i < idx; i++) {
      const c = s.charCodeAt(i);
      // Each half of a surrogate pair stands for 2 of the 4 bytes.
      bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdfff ? 2 : 3;
    }
    this.cursor = i;
    this.cursorBytes = bytes;
    return bytes;
  }
}

/** Offset of the first byte that cannot start or continue a valid UTF-8 sequence (RFC 3629). */
function validUtf8Prefix(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    let n: number;
    // Bounds of the first continuation byte exclude overlongs, surrogates and code points above U+10FFFF.
    let lo = 0x80;
    let hi = 0xbf;
    if (c < 0x80) n = 0;
    else if (c >= 0xc2 && c <= 0xdf) n = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c === 0xe0) lo = 0xa0;
      else if (c === 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c === 0xf0) lo = 0x90;
      else if (c === 0xf4) hi = 0x8f;
    } else return i;
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || d < lo || d > hi) return i;
      lo = 0x80;
      hi = 0xbf;
    }
    i += n + 1;
  }
  return i;
}
