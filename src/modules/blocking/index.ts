// Blocking command (XEP-0191). Placeholder definition: being implemented in this change.
import { defineModule } from '../../core/module.ts';

export default defineModule({
  id: 'blocking',
  description: 'Blocking command (XEP-0191)',
  setup() {},
});
