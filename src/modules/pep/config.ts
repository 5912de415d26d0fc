// Node configuration: the options this service implements (XEP-0060 §16.4.4),
// read from publish-options (§7.1.5, XEP-0223) and node configuration forms
// (§8.2), compared as publish preconditions, and written as a form.
import type { Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { NS } from '../../xmpp/ns.ts';
import { unsupported } from './errors.ts';
import { formElement, readForm } from './form.ts';

export const ACCESS_MODELS = ['presence', 'open', 'whitelist'] as const;
export type AccessModel = (typeof ACCESS_MODELS)[number];
export const SEND_LAST = ['never', 'on_sub', 'on_sub_and_presence'] as const;
export type SendLast = (typeof SEND_LAST)[number];

export interface NodeConfig {
  accessModel: AccessModel;
  persistItems: boolean;
  /** 'max': as many as the server keeps per node (its cap). */
  maxItems: number | 'max';
  sendLast: SendLast;
}

export type ConfigChanges = Partial<NodeConfig>;

export interface ItemLimits {
  /** max_items of a node nobody configured. */
  defaultMaxItems: number;
  /** The most items a node keeps; what 'max' means. */
  maxItemsCap: number;
}

export function defaultConfig(limits: ItemLimits): NodeConfig {
  return { accessModel: 'presence', persistItems: true, maxItems: limits.defaultMaxItems, sendLast: 'on_sub_and_presence' };
}

/** How many items the node keeps (0 when it persists none). */
export function itemsKept(config: NodeConfig, cap: number): number {
  if (!config.persistItems) return 0;
  return config.maxItems === 'max' ? cap : Math.min(config.maxItems, cap);
}

const FIELD = {
  accessModel: 'pubsub#access_model',
  persistItems: 'pubsub#persist_items',
  maxItems: 'pubsub#max_items',
  sendLast: 'pubsub#send_last_published_item',
} as const satisfies Record<keyof NodeConfig, string>;

// Converse.js submits node configuration with FORM_TYPE '…pubsub#nodeconfig'.
const NODE_CONFIG_FORM_TYPES = new Set<string>([NS.pubsubNodeConfig, 'http://jabber.org/protocol/pubsub#nodeconfig']);

/**
 * The options a submitted form sets. Fields this service doesn't implement are
 * ignored (as a form processor does with fields it doesn't know); a value a
 * field can't take is refused.
 */
export function parseConfigForm(form: Element, kind: 'publish-options' | 'node_config', limits: ItemLimits): ConfigChanges {
  const submitted = readForm(form);
  if (submitted.type !== 'submit') throw new StanzaError('bad-request', `The ${kind} form must be of type 'submit'.`);
  const formType = submitted.formType;
  const expected = kind === 'publish-options' ? formType === NS.pubsubPublishOptions : formType === undefined || NODE_CONFIG_FORM_TYPES.has(formType);
  if (!expected) throw new StanzaError('bad-request', `The ${kind} form has FORM_TYPE '${formType ?? ''}'.`);

  const changes: ConfigChanges = {};
  const single = (name: string): string | undefined => {
    const values = submitted.fields.get(name);
    if (values === undefined || values.length === 0) return undefined;
    if (values.length > 1) throw new StanzaError('not-acceptable', `The field '${name}' takes one value.`);
    return values[0]!.trim();
  };

  const access = single(FIELD.accessModel);
  if (access !== undefined) {
    if (access === 'authorize' || access === 'roster') throw unsupported(`access-${access}`, `The access model '${access}' is not supported here.`);
    if (!isOneOf(ACCESS_MODELS, access)) throw new StanzaError('not-acceptable', `'${access}' is not an access model.`);
    changes.accessModel = access;
  }
  const persist = single(FIELD.persistItems);
  if (persist !== undefined) changes.persistItems = parseBoolean(FIELD.persistItems, persist);
  const max = single(FIELD.maxItems);
  if (max !== undefined) changes.maxItems = parseMaxItems(max, limits.maxItemsCap);
  const sendLast = single(FIELD.sendLast);
  if (sendLast !== undefined) {
    if (!isOneOf(SEND_LAST, sendLast)) throw new StanzaError('not-acceptable', `'${sendLast}' is not a value of ${FIELD.sendLast}.`);
    changes.sendLast = sendLast;
  }
  return changes;
}

function parseBoolean(name: string, v: string): boolean {
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new StanzaError('not-acceptable', `The field '${name}' is a boolean (true, false, 1 or 0).`);
}

function parseMaxItems(v: string, cap: number): number | 'max' {
  if (v === 'max') return 'max';
  if (!/^\d{1,9}$/.test(v) || Number(v) < 1) throw new StanzaError('not-acceptable', `${FIELD.maxItems} is a positive number or 'max'.`);
  const n = Number(v);
  if (n > cap) throw new StanzaError('policy-violation', `A node keeps at most ${cap} items here (${FIELD.maxItems} ${cap} or 'max').`);
  return n;
}

function isOneOf<T extends string>(list: readonly T[], v: string): v is T {
  return (list as readonly string[]).includes(v);
}

export function withChanges(config: NodeConfig, changes: ConfigChanges): NodeConfig {
  return { ...config, ...changes };
}

/** XEP-0060 §7.1.5: the options of a publish that the existing node doesn't have (their field names). */
export function unmetPreconditions(config: NodeConfig, wanted: ConfigChanges): string[] {
  return (Object.keys(wanted) as (keyof NodeConfig)[]).filter((k) => wanted[k] !== config[k]).map((k) => FIELD[k]);
}

/** The fields of `wanted` that would give one of the options a node always has (`fixed`) another value. */
export function againstFixed(fixed: ConfigChanges, wanted: ConfigChanges): string[] {
  return (Object.keys(wanted) as (keyof NodeConfig)[]).filter((k) => k in fixed && wanted[k] !== fixed[k]).map((k) => FIELD[k]);
}

/** The node configuration form (XEP-0060 §8.2.1) with the node's current values. */
export function configForm(config: NodeConfig): Element {
  return formElement('form', NS.pubsubNodeConfig, [
    { var: FIELD.accessModel, type: 'list-single', label: 'Who may read the items', values: [config.accessModel], options: [...ACCESS_MODELS] },
    { var: FIELD.persistItems, type: 'boolean', label: 'Keep items in storage', values: [config.persistItems ? 'true' : 'false'] },
    { var: FIELD.maxItems, type: 'text-single', label: "Most items kept ('max': the server's limit)", values: [String(config.maxItems)] },
    { var: FIELD.sendLast, type: 'list-single', label: 'When to send the last published item', values: [config.sendLast], options: [...SEND_LAST] },
  ]);
}
