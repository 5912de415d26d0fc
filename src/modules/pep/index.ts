// Personal eventing (XEP-0163) on publish-subscribe (XEP-0060). Being built.
import { defineModule } from '../../core/module.ts';

export default defineModule({
  id: 'pep',
  description: 'Personal eventing via pubsub (XEP-0163)',
  setup() {},
});
