// Message carbons (XEP-0280). Being built.
import { defineModule } from '../../core/module.ts';

export default defineModule({
  id: 'carbons',
  description: 'Message carbons (XEP-0280)',
  setup() {},
});
