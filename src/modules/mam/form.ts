// Reading an archive query (XEP-0313 §4): the XEP-0004 form of filters, the
// XEP-0059 <set/> of paging, and <flip-page/>; and the form that tells a
// client which fields there are.
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { JidError, parseJID } from '../../xmpp/jid.ts';
import { NS } from '../../xmpp/ns.ts';
import type { ArchiveFilter, ArchivePaging } from './store.ts';

export interface PageLimits {
  /** Page size when the client names none. */
  defaultMax: number;
  /** A larger <max/> is cut to this silently (XEP-0313 §4.3.1: the server may return fewer). */
  maxMax: number;
}

export interface ParsedQuery {
  queryId: string | undefined;
  filter: ArchiveFilter;
  paging: ArchivePaging;
  /** Send the page newest first (XEP-0313 §4.3.4); what is selected stays the same. */
  flip: boolean;
}

/** Ids in one 'ids' field: a bound on the query it becomes. */
export const MAX_IDS = 1000;

const SINGLE_FIELDS = ['with', 'start', 'end', 'before-id', 'after-id'] as const;
type SingleField = (typeof SINGLE_FIELDS)[number];

/** The form a client gets for <query/> of type get (XEP-0313 §4.1.5). */
export function queryForm(): Element {
  return x(
    'query',
    { xmlns: NS.mam },
    x(
      'x',
      { xmlns: NS.dataForms, type: 'form' },
      x('field', { type: 'hidden', var: 'FORM_TYPE' }, x('value').t(NS.mam)),
      x('field', { type: 'jid-single', var: 'with' }),
      x('field', { type: 'text-single', var: 'start' }),
      x('field', { type: 'text-single', var: 'end' }),
      x('field', { type: 'text-single', var: 'before-id' }),
      x('field', { type: 'text-single', var: 'after-id' }),
      x('field', { type: 'list-multi', var: 'ids' }, x('validate', { xmlns: 'http://jabber.org/protocol/xdata-validate', datatype: 'xs:string' }, x('open'))),
    ),
  );
}

/** Reads a <query/> of type set; throws StanzaError for what it cannot answer. */
export function parseQuery(query: Element, limits: PageLimits): ParsedQuery {
  if (query.attrs.node !== undefined) throw new StanzaError('item-not-found', 'This archive has no nodes.');
  return {
    queryId: query.attrs.queryid,
    filter: parseFilter(query.getChild('x', NS.dataForms)),
    paging: parsePaging(query.getChild('set', NS.rsm), limits),
    flip: query.getChild('flip-page', NS.mam) !== undefined,
  };
}

function parseFilter(form: Element | undefined): ArchiveFilter {
  const filter: ArchiveFilter = {};
  if (!form) return filter;
  if (form.attrs.type !== undefined && form.attrs.type !== 'submit') throw new StanzaError('bad-request', "The query form must be of type 'submit'.");
  const seen = new Set<string>();
  const single = new Map<SingleField, string>();
  for (const field of form.getChildren('field', NS.dataForms)) {
    const name = field.attrs.var ?? '';
    if (seen.has(name)) throw new StanzaError('bad-request', `The field '${name}' appears twice.`);
    seen.add(name);
    const values = field.getChildren('value', NS.dataForms).map((v) => v.text.trim());
    if (name === 'FORM_TYPE') {
      if (values.length !== 1 || values[0] !== NS.mam) throw new StanzaError('bad-request', `FORM_TYPE must be ${NS.mam}.`);
    } else if (name === 'ids') {
      const ids = values.filter((v) => v !== '');
      if (ids.length > MAX_IDS) throw new StanzaError('not-acceptable', `At most ${MAX_IDS} ids fit in one query.`);
      if (ids.length > 0) filter.ids = ids;
    } else if ((SINGLE_FIELDS as readonly string[]).includes(name)) {
      if (values.length > 1) throw new StanzaError('bad-request', `The field '${name}' takes one value.`);
      if (values[0]) single.set(name as SingleField, values[0]);
    } else {
      // XEP-0313 §4.1.5: a field the server does not recognise.
      throw new StanzaError('feature-not-implemented', `The field '${name}' is not supported; ask for the form to see which are.`);
    }
  }
  const withJid = single.get('with');
  if (withJid !== undefined) {
    try {
      const j = parseJID(withJid);
      filter.with = { bare: j.bareString(), resource: j.resource };
    } catch (err) {
      if (!(err instanceof JidError)) throw err;
      throw new StanzaError('bad-request', `The 'with' field is not a valid JID: ${err.reason}`);
    }
  }
  for (const name of ['start', 'end'] as const) {
    const text = single.get(name);
    if (text === undefined) continue;
    const at = parseDateTime(text);
    if (!at) throw new StanzaError('bad-request', `The '${name}' field must be an XEP-0082 date and time, such as 2024-05-06T07:08:09Z.`);
    filter[name] = at;
  }
  const afterId = single.get('after-id');
  const beforeId = single.get('before-id');
  if (afterId !== undefined) filter.afterId = afterId;
  if (beforeId !== undefined) filter.beforeId = beforeId;
  return filter;
}

function parsePaging(set: Element | undefined, limits: PageLimits): ArchivePaging {
  const paging: ArchivePaging = { max: limits.defaultMax };
  if (!set) return paging;
  if (set.getChild('index', NS.rsm)) throw new StanzaError('feature-not-implemented', 'Paging by index is not supported; page with <after/> or <before/>.');
  const max = set.getChild('max', NS.rsm);
  if (max) {
    const text = max.text.trim();
    if (!/^\d{1,9}$/.test(text)) throw new StanzaError('bad-request', '<max/> must be a non-negative integer.');
    paging.max = Math.min(Number(text), limits.maxMax);
  }
  const after = set.getChild('after', NS.rsm);
  const before = set.getChild('before', NS.rsm);
  // RSM leaves both together undefined; the form's after-id and before-id select a range.
  if (after && before) throw new StanzaError('bad-request', 'Use <after/> or <before/>, not both; for a range, use the after-id and before-id fields.');
  if (after) {
    const id = after.text.trim();
    if (id === '') throw new StanzaError('bad-request', '<after/> needs the id of a message.');
    paging.after = id;
  }
  // An empty <before/> asks for the last page.
  if (before) paging.before = before.text.trim();
  return paging;
}

const DATE_TIME = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:Z|([+-])(\d\d):(\d\d))$/;

/** An XEP-0082 DateTime (time zone required, fractions of a second allowed), or undefined when it is not one. */
export function parseDateTime(text: string): Date | undefined {
  const m = DATE_TIME.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const ms = m[7] === undefined ? 0 : Number(m[7].slice(0, 3).padEnd(3, '0'));
  const local = new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms));
  local.setUTCFullYear(year); // Date.UTC maps years 0..99 to 1900..1999
  // Date.UTC rolls 2024-02-30 over into March: a date that does not exist is refused.
  if (local.getUTCMonth() !== month - 1 || local.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) return undefined;
  const offset = m[8] === undefined ? 0 : (m[8] === '-' ? -1 : 1) * (Number(m[9]) * 60 + Number(m[10]));
  if (m[8] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return undefined;
  return new Date(local.getTime() - offset * 60_000);
}
