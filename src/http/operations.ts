import { analytics } from './analytics';
import { archives } from './archives';
import { router } from './context';
import { ops } from './ops';
import { settings } from './settings';

/** Analytics, settings, archives and operations: mounted under /api/v1 with one line in app.ts. */
export const operations = router().route('/', analytics).route('/', settings).route('/', archives).route('/', ops);
