// `npm run deploy`: the migrations of the control database and of every shard (wrangler.toml's SHARDS),
// then the Worker. A shard added to wrangler.toml gets its tables here before any tenant is placed on it.
import { applyTrackedMigrations, wrangler } from './runtime.mjs';

applyTrackedMigrations('--remote');
process.stdout.write(wrangler(['deploy']));
