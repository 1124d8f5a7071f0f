import { Migration20261125000000_read_models } from './Migration20261125000000_read_models.js';

/** Every migration, in order. Listed explicitly so the same list works from sources and from dist. */
export const MIGRATIONS = [{ name: 'Migration20261125000000_read_models', class: Migration20261125000000_read_models }];
