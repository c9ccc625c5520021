/**
 * The change feed's triggers on one table (Migration…_change_feed defines the function they call):
 * statement-level, with transition tables, one per operation (PostgreSQL allows transition tables
 * only on single-event triggers), publishing the given key columns; TRUNCATE publishes no rows.
 * Shared by every migration that puts a table on the feed, so all tables are watched alike.
 */
const OPERATIONS = ['insert', 'update', 'delete', 'truncate'] as const;

/** `columns`: the key columns to publish, as the function's SQL arguments (`'id', 'book_id'`). */
export function createChangeFeedTriggers(table: string, columns: string): string[] {
  const publish = `for each statement execute function "catalog_publish_changes"(${columns})`;
  return [
    `create trigger "catalog_changes_insert" after insert on "${table}" referencing new table as new_rows ${publish};`,
    `create trigger "catalog_changes_update" after update on "${table}" referencing old table as old_rows new table as new_rows ${publish};`,
    `create trigger "catalog_changes_delete" after delete on "${table}" referencing old table as old_rows ${publish};`,
    `create trigger "catalog_changes_truncate" after truncate on "${table}" for each statement execute function "catalog_publish_changes"();`,
  ];
}

export function dropChangeFeedTriggers(table: string): string[] {
  return OPERATIONS.map((operation) => `drop trigger if exists "catalog_changes_${operation}" on "${table}";`);
}
