// Contact lists and subscriptions (RFC 6121 §2-3). Placeholder definition: being implemented in this change.
import { defineModule } from '../../core/module.ts';

export default defineModule({
  id: 'roster',
  description: 'Contact lists and subscriptions (RFC 6121 §2-3)',
  setup() {},
});
