// Offline message storage (XEP-0160). Placeholder definition: being implemented in this change.
import { defineModule } from '../../core/module.ts';

export default defineModule({
  id: 'offline',
  description: 'Offline message storage (XEP-0160)',
  setup() {},
});
