// Private XML storage (XEP-0049). Placeholder definition: being implemented in this change.
import { defineModule } from '../../core/module.ts';

export default defineModule({
  id: 'private',
  description: 'Private XML storage (XEP-0049)',
  setup() {},
});
