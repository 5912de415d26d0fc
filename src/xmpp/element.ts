// A small XML element tree for stanzas. The parser normalises namespaces so that
// an element carries `xmlns` in attrs exactly when its namespace differs from its
// parent's; a top-level stanza without `xmlns` is in the stream's content
// namespace (jabber:client for c2s).
import { NS } from './ns.ts';

export type Attrs = Record<string, string>;
export type Node = Element | string;

export class Element {
  name: string;
  attrs: Attrs;
  children: Node[];
  parent: Element | undefined;
  /** Bits of onceMark(): which once-per-stanza steps this object has been through (a clone starts with none). */
  marks = 0;

  constructor(name: string, attrs: Attrs = {}, children: Node[] = []) {
    this.name = name;
    this.attrs = {};
    for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) this.attrs[k] = String(v);
    this.children = [];
    for (const child of children) this.append(child);
  }

  /** The namespace this element is in (declared or inherited). */
  get ns(): string {
    return this.attrs.xmlns ?? this.parent?.ns ?? NS.client;
  }

  append(child: Node): this {
    if (typeof child !== 'string') child.parent = this;
    this.children.push(child);
    return this;
  }

  /** Builder helper: appends a new child element and returns it. */
  c(name: string, attrs: Attrs = {}): Element {
    const child = new Element(name, attrs);
    this.append(child);
    return child;
  }

  /** Builder helper: appends text and returns this element. */
  t(text: string): this {
    this.children.push(text);
    return this;
  }

  get elements(): Element[] {
    return this.children.filter((c): c is Element => typeof c !== 'string');
  }

  getChild(name: string, ns?: string): Element | undefined {
    for (const c of this.children) {
      if (typeof c !== 'string' && c.name === name && (ns === undefined || c.ns === ns)) return c;
    }
    return undefined;
  }

  getChildren(name: string, ns?: string): Element[] {
    return this.elements.filter((c) => c.name === name && (ns === undefined || c.ns === ns));
  }

  /** First child element in the namespace, whatever its name. */
  getChildByNs(ns: string): Element | undefined {
    return this.elements.find((c) => c.ns === ns);
  }

  get text(): string {
    let out = '';
    for (const c of this.children) if (typeof c === 'string') out += c;
    return out;
  }

  getChildText(name: string, ns?: string): string | undefined {
    return this.getChild(name, ns)?.text;
  }

  removeChild(child: Element): void {
    const i = this.children.indexOf(child);
    if (i >= 0) this.children.splice(i, 1);
    child.parent = undefined;
  }

  /** Deep copy, detached from any parent. */
  clone(): Element {
    const copy = new Element(this.name, this.attrs);
    for (const c of this.children) copy.append(typeof c === 'string' ? c : c.clone());
    return copy;
  }

  /** A deep copy whose strings share no memory with the text they were parsed from: for an element kept as long as a session. */
  detached(): Element {
    const attrs: Attrs = {};
    for (const k in this.attrs) attrs[ownString(k)] = ownString(this.attrs[k]!);
    const copy = new Element(ownString(this.name), attrs);
    for (const c of this.children) copy.append(typeof c === 'string' ? ownString(c) : c.detached());
    return copy;
  }

  toString(): string {
    let out = '<' + this.name;
    for (const [k, v] of Object.entries(this.attrs)) out += ' ' + k + '="' + escapeAttr(v) + '"';
    if (this.children.length === 0) return out + '/>';
    out += '>';
    for (const c of this.children) out += typeof c === 'string' ? escapeText(c) : c.toString();
    return out + '</' + this.name + '>';
  }
}

/**
 * The same text in memory of its own. A string the parser hands out is a slice
 * of the whole chunk it arrived in (V8 keeps the chunk alive for the slice),
 * so one kept for a session's life would keep that chunk with it.
 */
export function ownString(text: string): string {
  // Through JSON rather than UTF-8 bytes: exact for any string, a lone surrogate included.
  return JSON.parse(JSON.stringify(text)) as string;
}

/** Shorthand builder: x('iq', { type: 'result' }, x('query', { xmlns })) */
export function x(name: string, attrs: Attrs = {}, ...children: Node[]): Element {
  return new Element(name, attrs, children);
}

const ATTR_RE = /[&<>"'\r\n\t]/g;
const TEXT_RE = /[&<>\r]/g;
const ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  '\r': '&#13;',
  '\n': '&#10;',
  '\t': '&#9;',
};

export function escapeAttr(s: string): string {
  return s.replace(ATTR_RE, (ch) => ENTITIES[ch]!);
}

export function escapeText(s: string): string {
  return s.replace(TEXT_RE, (ch) => ENTITIES[ch]!);
}

const markBits = new Map<string, number>();

/**
 * A test-and-set for work done once per stanza object although the router may
 * dispatch it again (a full JID without a session, then the bare JID; stream
 * management routing unacknowledged stanzas again): true the first time it
 * sees the object. A bit in Element.marks, because a WeakSet of every routed
 * stanza cost 3 to 5 µs per message in its insertion and garbage collection.
 * One bit per key, shared by every server in the process.
 */
export function onceMark(key: string): (el: Element) => boolean {
  let bit = markBits.get(key);
  if (bit === undefined) {
    if (markBits.size === 31) throw new Error('no more once-marks (31 in use)');
    bit = 1 << markBits.size;
    markBits.set(key, bit);
  }
  const mask = bit;
  return (el) => {
    if (el.marks & mask) return false;
    el.marks |= mask;
    return true;
  };
}
