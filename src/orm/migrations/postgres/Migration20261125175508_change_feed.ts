import { Migration } from '@mikro-orm/migrations';
import { createChangeFeedTriggers, dropChangeFeedTriggers } from './change-feed-triggers.ts';

/**
 * Written by hand (the entity diff knows nothing of it; `schemaGenerator.ignoreTriggers` keeps
 * `npm run migration:create` from proposing to drop it). PostgreSQL only.
 *
 * Every INSERT, UPDATE and DELETE on author, book and review — whoever sends it: the ORM's unit of
 * work, em.nativeUpdate/nativeDelete, a QueryBuilder, ON DELETE CASCADE, psql, another program —
 * is published on the channel `catalog_changes` with the key fields of each row before and after:
 *   {"table":"book","op":"UPDATE","at":<clock_timestamp() in epoch ms>,"rows":[[old,new],…]}
 * NOTIFY is delivered on commit only, and never for a rolled-back transaction: exactly the
 * after-commit semantics invalidation needs. TRUNCATE cannot list its rows: it is published with
 * no rows and the listener retires the whole cache.
 *
 * Statement-level triggers with transition tables (one trigger per operation: PostgreSQL allows
 * transition tables only on single-event triggers) see all rows of a statement at once. A payload
 * must stay under 8000 bytes, so rows are sent in chunks of at most ~7.5 kB: a 100k-row UPDATE is
 * ~2,700 notifications, not an error. One row pair is at most ~3.2 kB (two 255-character titles,
 * fully escaped), so a chunk always fits.
 */
export class Migration20261125175508_change_feed extends Migration {

  override name = 'Migration20261125175508_change_feed';

  override up(): void | Promise<void> {
    this.addSql(`create function "catalog_publish_changes"() returns trigger language plpgsql as $fn$
declare
  -- The key columns to publish are the trigger's arguments.
  columns text := (select string_agg(format('%I', c), ', ') from unnest(TG_ARGV) as c);
  head text := format('{"table":%s,"op":%s,"at":', to_json(TG_TABLE_NAME::text), to_json(TG_OP::text));
  rows_query text;
  item text;
  items text := '';
begin
  if TG_OP = 'TRUNCATE' then
    perform pg_notify('catalog_changes', head || round(extract(epoch from clock_timestamp()) * 1000, 3) || ',"rows":[]}');
    return null;
  end if;
  rows_query := case TG_OP
    when 'INSERT' then format('select ''[null,'' || row_to_json(n) || '']'' from (select %s from new_rows) n', columns)
    when 'DELETE' then format('select ''['' || row_to_json(o) || '',null]'' from (select %s from old_rows) o', columns)
    -- A changed primary key pairs with nothing: it is reported as a delete plus an insert.
    else format('select ''['' || coalesce(row_to_json(o)::text, ''null'') || '','' || coalesce(row_to_json(n)::text, ''null'') || '']'''
      ' from (select %1$s from old_rows) o full join (select %1$s from new_rows) n on o.id = n.id', columns)
  end;
  for item in execute rows_query loop
    if items <> '' and octet_length(items) + octet_length(item) > 7500 then
      perform pg_notify('catalog_changes', head || round(extract(epoch from clock_timestamp()) * 1000, 3) || ',"rows":[' || items || ']}');
      items := '';
    end if;
    items := case when items = '' then item else items || ',' || item end;
  end loop;
  if items <> '' then
    perform pg_notify('catalog_changes', head || round(extract(epoch from clock_timestamp()) * 1000, 3) || ',"rows":[' || items || ']}');
  end if;
  return null;
end
$fn$;`);

    const keyColumns: Record<string, string> = {
      author: `'id'`,
      book: `'id', 'author_id', 'title', 'price_cents', 'published_year'`,
      review: `'id', 'book_id', 'rating'`,
    };
    for (const [table, columns] of Object.entries(keyColumns)) {
      for (const sql of createChangeFeedTriggers(table, columns)) this.addSql(sql);
    }
  }

  override down(): void | Promise<void> {
    for (const table of ['author', 'book', 'review']) {
      for (const sql of dropChangeFeedTriggers(table)) this.addSql(sql);
    }
    this.addSql(`drop function if exists "catalog_publish_changes"();`);
  }

}
