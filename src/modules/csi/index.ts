// Client state indication (XEP-0352). Being built.
import { defineModule } from '../../core/module.ts';

export default defineModule({
  id: 'csi',
  description: 'Client state indication (XEP-0352)',
  setup() {},
});
