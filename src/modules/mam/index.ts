// Message archive (XEP-0313) with stanza ids (XEP-0359). Being built.
import { defineModule } from '../../core/module.ts';

export default defineModule({
  id: 'mam',
  description: 'Message archive management (XEP-0313)',
  setup() {},
});
