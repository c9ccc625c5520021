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

/** Name of the function publishing one table's changes of one operation (createTableChangeFeed). */
const functionName = (table: string, operation: (typeof OPERATIONS)[number]) => `catalog_publish_${table}_${operation}`;

/**
 * The change feed on one table with a function of its own per operation: the same payloads as
 * `catalog_publish_changes` (Migration…_change_feed), from static SQL — PL/pgSQL plans it once per
 * session, where the shared function builds its query with format() and EXECUTEs it, planned
 * anew, on every statement (pgbench, single-row UPDATEs: ~0.2 ms less per statement, about half of
 * what the feed costs a write; pg_notify's work at commit is the other half). `columns`: plain
 * lower-case identifiers (change-events.ts's CHANGE_COLUMNS).
 */
export function createTableChangeFeed(table: string, columns: readonly string[]): string[] {
  const list = columns.map((c) => `"${c}"`).join(', ');
  const rows: Record<Exclude<(typeof OPERATIONS)[number], 'truncate'>, string> = {
    insert: `select '[null,' || row_to_json(n)::text || ']' from (select ${list} from new_rows) n`,
    delete: `select '[' || row_to_json(o)::text || ',null]' from (select ${list} from old_rows) o`,
    // A changed primary key pairs with nothing: it is reported as a delete plus an insert.
    update: `select '[' || coalesce(row_to_json(o)::text, 'null') || ',' || coalesce(row_to_json(n)::text, 'null') || ']'
      from (select ${list} from old_rows) o full join (select ${list} from new_rows) n on o.id = n.id`,
  };
  const notify = (items: string) =>
    `perform pg_notify('catalog_changes', head || round(extract(epoch from clock_timestamp()) * 1000, 3) || ',"rows":[' || ${items} || ']}');`;
  const head = (operation: string) => `head constant text := '{"table":"${table}","op":"${operation.toUpperCase()}","at":';`;
  const sql: string[] = [];
  for (const operation of ['insert', 'update', 'delete'] as const) {
    sql.push(`create or replace function "${functionName(table, operation)}"() returns trigger language plpgsql as $fn$
declare
  ${head(operation)}
  item text;
  items text := '';
begin
  -- At most ~7.5 kB of rows per notification (a payload must stay under 8000 bytes).
  for item in ${rows[operation]} loop
    if items <> '' and octet_length(items) + octet_length(item) > 7500 then
      ${notify('items')}
      items := '';
    end if;
    items := case when items = '' then item else items || ',' || item end;
  end loop;
  if items <> '' then
    ${notify('items')}
  end if;
  return null;
end
$fn$;`);
  }
  sql.push(`create or replace function "${functionName(table, 'truncate')}"() returns trigger language plpgsql as $fn$
declare
  ${head('truncate')}
begin
  ${notify("''")}
  return null;
end
$fn$;`);
  const run = (operation: (typeof OPERATIONS)[number]) => `for each statement execute function "${functionName(table, operation)}"()`;
  sql.push(
    `create trigger "catalog_changes_insert" after insert on "${table}" referencing new table as new_rows ${run('insert')};`,
    `create trigger "catalog_changes_update" after update on "${table}" referencing old table as old_rows new table as new_rows ${run('update')};`,
    `create trigger "catalog_changes_delete" after delete on "${table}" referencing old table as old_rows ${run('delete')};`,
    `create trigger "catalog_changes_truncate" after truncate on "${table}" ${run('truncate')};`,
  );
  return sql;
}

/** Drops one table's triggers and its functions (createTableChangeFeed). */
export function dropTableChangeFeed(table: string): string[] {
  return [...dropChangeFeedTriggers(table), ...OPERATIONS.map((operation) => `drop function if exists "${functionName(table, operation)}"();`)];
}
