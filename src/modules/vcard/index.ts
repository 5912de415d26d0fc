// vCards (XEP-0054) and avatar hashes in presence (XEP-0153). Placeholder definition: being implemented in this change.
import { defineModule } from '../../core/module.ts';

export default defineModule({
  id: 'vcard',
  description: 'vCards (XEP-0054) and avatar hashes in presence (XEP-0153)',
  setup() {},
});
