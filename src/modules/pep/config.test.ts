// Node configuration: publish-options and configuration forms read into
// options (unknown fields ignored, bad values refused with XEP-0060's errors),
// preconditions compared, and the access check every read goes through.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseElement } from '../../net/xml-stream.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { NS } from '../../xmpp/ns.ts';
import { accessError } from './access.ts';
import { configForm, defaultConfig, itemsKept, parseConfigForm, unmetPreconditions, withChanges } from './config.ts';
import { readForm } from './form.ts';

const LIMITS = { defaultMaxItems: 1, maxItemsCap: 256 };

function form(formType: string | undefined, fields: Record<string, string | string[]>, type = 'submit') {
  let inner = formType === undefined ? '' : `<field var='FORM_TYPE' type='hidden'><value>${formType}</value></field>`;
  for (const [k, v] of Object.entries(fields)) inner += `<field var='${k}'>${[v].flat().map((one) => `<value>${one}</value>`).join('')}</field>`;
  return parseElement(`<x xmlns='jabber:x:data' type='${type}'>${inner}</x>`);
}
const publishOptions = (fields: Record<string, string | string[]>) => parseConfigForm(form(NS.pubsubPublishOptions, fields), 'publish-options', LIMITS);

/** The StanzaError fn throws, as condition, app condition (and its feature) and text. */
function refusal(fn: () => unknown): { condition: string; app: string | undefined; feature: string | undefined; text: string | undefined } {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof StanzaError, String(err));
    return { condition: err.condition, app: err.appCondition?.name, feature: err.appCondition?.attrs.feature, text: err.text };
  }
  assert.fail('expected a StanzaError');
}

describe('publish-options (XEP-0060 §7.1.5, XEP-0223)', () => {
  test('OMEMO: access_model open; XEP-0402 bookmarks: persist, max, never, whitelist', () => {
    assert.deepEqual(publishOptions({ 'pubsub#access_model': 'open' }), { accessModel: 'open' });
    assert.deepEqual(
      publishOptions({
        'pubsub#persist_items': 'true',
        'pubsub#max_items': 'max',
        'pubsub#send_last_published_item': 'never',
        'pubsub#access_model': 'whitelist',
      }),
      { persistItems: true, maxItems: 'max', sendLast: 'never', accessModel: 'whitelist' },
    );
    assert.deepEqual(publishOptions({ 'pubsub#persist_items': '0', 'pubsub#max_items': ' 32 ' }), { persistItems: false, maxItems: 32 });
  });

  test('fields this service does not implement are ignored; empty ones too', () => {
    assert.deepEqual(publishOptions({ 'pubsub#deliver_payloads': 'true', 'pubsub#title': 'Devices', 'pubsub#access_model': [] }), {});
  });

  test('bad values: not-acceptable; unsupported access models: feature-not-implemented naming the feature; above the cap: policy-violation', () => {
    assert.equal(refusal(() => publishOptions({ 'pubsub#access_model': 'everyone' })).condition, 'not-acceptable');
    assert.deepEqual(refusal(() => publishOptions({ 'pubsub#access_model': 'roster' })), {
      condition: 'feature-not-implemented',
      app: 'unsupported',
      feature: 'access-roster',
      text: "The access model 'roster' is not supported here.",
    });
    assert.equal(refusal(() => publishOptions({ 'pubsub#access_model': 'authorize' })).feature, 'access-authorize');
    assert.equal(refusal(() => publishOptions({ 'pubsub#persist_items': 'yes' })).condition, 'not-acceptable');
    for (const v of ['0', '-1', 'many', '1.5']) assert.equal(refusal(() => publishOptions({ 'pubsub#max_items': v })).condition, 'not-acceptable', v);
    assert.deepEqual(refusal(() => publishOptions({ 'pubsub#max_items': '257' })), {
      condition: 'policy-violation',
      app: undefined,
      feature: undefined,
      text: "A node keeps at most 256 items here (pubsub#max_items 256 or 'max').",
    });
    assert.equal(refusal(() => publishOptions({ 'pubsub#send_last_published_item': 'sometimes' })).condition, 'not-acceptable');
    assert.equal(refusal(() => publishOptions({ 'pubsub#access_model': ['open', 'presence'] })).condition, 'not-acceptable');
  });

  test('the form: submit, with the publish-options FORM_TYPE, each field once', () => {
    assert.equal(refusal(() => parseConfigForm(form(NS.pubsubNodeConfig, {}), 'publish-options', LIMITS)).condition, 'bad-request');
    assert.equal(refusal(() => parseConfigForm(form(undefined, {}), 'publish-options', LIMITS)).condition, 'bad-request');
    assert.equal(refusal(() => parseConfigForm(form(NS.pubsubPublishOptions, {}, 'form'), 'publish-options', LIMITS)).condition, 'bad-request');
    const twice = parseElement(
      `<x xmlns='jabber:x:data' type='submit'><field var='pubsub#max_items'><value>1</value></field><field var='pubsub#max_items'><value>2</value></field></x>`,
    );
    assert.equal(refusal(() => readForm(twice)).condition, 'bad-request');
  });

  test('node configuration forms: node_config, Converse.js\'s "nodeconfig", or no FORM_TYPE', () => {
    for (const t of [NS.pubsubNodeConfig, 'http://jabber.org/protocol/pubsub#nodeconfig', undefined]) {
      assert.deepEqual(parseConfigForm(form(t, { 'pubsub#access_model': 'open' }), 'node_config', LIMITS), { accessModel: 'open' });
    }
    assert.equal(refusal(() => parseConfigForm(form(NS.pubsubPublishOptions, {}), 'node_config', LIMITS)).condition, 'bad-request');
  });
});

describe('preconditions and defaults', () => {
  test('defaults: presence access, persistent, one item, last item on presence', () => {
    assert.deepEqual(defaultConfig(LIMITS), { accessModel: 'presence', persistItems: true, maxItems: 1, sendLast: 'on_sub_and_presence' });
  });

  test('only the options that differ are unmet, named by field', () => {
    const node = withChanges(defaultConfig(LIMITS), { accessModel: 'open' });
    assert.deepEqual(unmetPreconditions(node, { accessModel: 'open' }), []);
    assert.deepEqual(unmetPreconditions(node, {}), []);
    assert.deepEqual(unmetPreconditions(node, { accessModel: 'whitelist', maxItems: 'max', persistItems: true }), ['pubsub#access_model', 'pubsub#max_items']);
    assert.deepEqual(unmetPreconditions(withChanges(node, { maxItems: 'max' }), { maxItems: 'max' }), []);
  });

  test('items kept: max_items within the cap, none when not persistent', () => {
    assert.equal(itemsKept(defaultConfig(LIMITS), 256), 1);
    assert.equal(itemsKept(withChanges(defaultConfig(LIMITS), { maxItems: 'max' }), 256), 256);
    assert.equal(itemsKept(withChanges(defaultConfig(LIMITS), { maxItems: 300 }), 256), 256, 'a node configured before the cap was lowered');
    assert.equal(itemsKept(withChanges(defaultConfig(LIMITS), { persistItems: false, maxItems: 10 }), 256), 0);
  });

  test('the configuration form carries the current values and reads back to them', () => {
    const config = withChanges(defaultConfig(LIMITS), { accessModel: 'whitelist', maxItems: 'max', sendLast: 'never' });
    const f = configForm(config);
    assert.equal(f.attrs.type, 'form');
    const read = readForm(f);
    assert.equal(read.formType, NS.pubsubNodeConfig);
    assert.deepEqual(Object.fromEntries(read.fields), {
      'pubsub#access_model': ['whitelist'],
      'pubsub#persist_items': ['true'],
      'pubsub#max_items': ['max'],
      'pubsub#send_last_published_item': ['never'],
    });
    f.attrs.type = 'submit';
    assert.deepEqual(withChanges(defaultConfig(LIMITS), parseConfigForm(f, 'node_config', LIMITS)), config);
  });
});

describe('access check (XEP-0060 §6.5.9)', () => {
  const app = (e: StanzaError | undefined) => e && `${e.condition}/${e.appCondition?.name ?? ''}/${e.type}`;
  test('the owner reads every node', () => {
    for (const m of ['presence', 'open', 'whitelist'] as const) assert.equal(accessError(m, { owner: true, subscription: 'none' }), undefined);
  });
  test('open: anyone', () => {
    for (const s of ['none', 'to', 'from', 'both'] as const) assert.equal(accessError('open', { owner: false, subscription: s }), undefined);
  });
  test('presence: a subscription from the owner (from or both); others need one', () => {
    assert.equal(accessError('presence', { owner: false, subscription: 'from' }), undefined);
    assert.equal(accessError('presence', { owner: false, subscription: 'both' }), undefined);
    for (const s of ['none', 'to'] as const) {
      assert.equal(app(accessError('presence', { owner: false, subscription: s })), 'not-authorized/presence-subscription-required/auth');
    }
  });
  test('whitelist: no one but the owner, contacts included', () => {
    for (const s of ['none', 'to', 'from', 'both'] as const) {
      assert.equal(app(accessError('whitelist', { owner: false, subscription: s })), 'not-allowed/closed-node/cancel');
    }
  });
});
