import { Migration20261125000000_read_models } from './Migration20261125000000_read_models.js';
import { Migration20261125010000_access } from './Migration20261125010000_access.js';
import { Migration20261125020000_node_admin_status } from './Migration20261125020000_node_admin_status.js';
import { Migration20261125030000_app_roles } from './Migration20261125030000_app_roles.js';
import { Migration20261206000000_event_history } from './Migration20261206000000_event_history.js';
import { Migration20261206010000_stream_snapshots } from './Migration20261206010000_stream_snapshots.js';
import { Migration20261206020000_snapshot_readings } from './Migration20261206020000_snapshot_readings.js';
import { Migration20261206030000_cost } from './Migration20261206030000_cost.js';
import { Migration20261206040000_rollouts } from './Migration20261206040000_rollouts.js';

export { TENANT_READER_ROLE, TENANT_TABLES } from './Migration20261125010000_access.js';
export { APP_ROLE, READONLY_ROLE } from './Migration20261125030000_app_roles.js';

/** Every migration, in order. Listed explicitly so the same list works from sources and from dist. */
export const MIGRATIONS = [
  { name: 'Migration20261125000000_read_models', class: Migration20261125000000_read_models },
  { name: 'Migration20261125010000_access', class: Migration20261125010000_access },
  { name: 'Migration20261125020000_node_admin_status', class: Migration20261125020000_node_admin_status },
  { name: 'Migration20261125030000_app_roles', class: Migration20261125030000_app_roles },
  { name: 'Migration20261206000000_event_history', class: Migration20261206000000_event_history },
  { name: 'Migration20261206010000_stream_snapshots', class: Migration20261206010000_stream_snapshots },
  { name: 'Migration20261206020000_snapshot_readings', class: Migration20261206020000_snapshot_readings },
  { name: 'Migration20261206030000_cost', class: Migration20261206030000_cost },
  { name: 'Migration20261206040000_rollouts', class: Migration20261206040000_rollouts },
];
