// The part of XEP-0004 data forms that node configuration and publish-options
// need: reading a submitted form's fields, writing a form's fields.
import { x, type Element } from '../../xmpp/element.ts';
import { StanzaError } from '../../xmpp/errors.ts';
import { NS } from '../../xmpp/ns.ts';

export interface SubmittedForm {
  type: string;
  formType: string | undefined;
  /** Values by field var, FORM_TYPE left out. */
  fields: Map<string, string[]>;
}

export function readForm(form: Element): SubmittedForm {
  const fields = new Map<string, string[]>();
  let formType: string | undefined;
  for (const field of form.getChildren('field', NS.dataForms)) {
    const name = field.attrs.var;
    if (name === undefined) continue; // only 'fixed' fields have no var, and they carry nothing to read
    if (fields.has(name) || (name === 'FORM_TYPE' && formType !== undefined)) {
      throw new StanzaError('bad-request', `The field '${name}' appears more than once in the form.`);
    }
    const values = field.getChildren('value', NS.dataForms).map((v) => v.text);
    if (name === 'FORM_TYPE') formType = values[0];
    else fields.set(name, values);
  }
  return { type: form.attrs.type ?? '', formType, fields };
}

export interface FormField {
  var: string;
  type: string;
  label?: string;
  values: string[];
  options?: string[];
}

export function formElement(type: 'form' | 'result', formType: string, fields: readonly FormField[]): Element {
  const form = x('x', { xmlns: NS.dataForms, type });
  form.append(x('field', { var: 'FORM_TYPE', type: 'hidden' }, x('value').t(formType)));
  for (const f of fields) {
    const attrs: Record<string, string> = { var: f.var, type: f.type };
    if (f.label) attrs.label = f.label;
    const el = form.c('field', attrs);
    for (const o of f.options ?? []) el.append(x('option', {}, x('value').t(o)));
    for (const v of f.values) el.append(x('value').t(v));
  }
  return form;
}
