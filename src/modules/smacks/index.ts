// Stream management (XEP-0198). Being built.
import { defineModule } from '../../core/module.ts';

export default defineModule({
  id: 'smacks',
  description: 'Stream management (XEP-0198)',
  setup() {},
});
