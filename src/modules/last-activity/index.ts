// Last activity (XEP-0012). Placeholder definition: being implemented in this change.
import { defineModule } from '../../core/module.ts';

export default defineModule({
  id: 'last-activity',
  description: 'Last activity (XEP-0012)',
  setup() {},
});
