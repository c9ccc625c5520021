/**
 * The function every change feed trigger calls (see Migration…_change_feed for the payload and its
 * chunking). Kept in one place so that each migration that changes it states only what changed.
 *
 * `transactionIds`: the payload also names the writing transaction, `"tx":"<pg_current_xact_id()>"`
 * (the top-level id, also from inside a savepoint). A server that invalidated that transaction's
 * keys itself after its commit knows the id and skips what it already did (own-transactions.ts).
 */
export function publishChangesFunction({ transactionIds }: { transactionIds: boolean }): string {
  const tx = transactionIds ? `"tx":%s,` : '';
  const txArgument = transactionIds ? ', to_json(pg_current_xact_id()::text)' : '';
  return `create ${transactionIds ? 'or replace ' : ''}function "catalog_publish_changes"() returns trigger language plpgsql as $fn$
declare
  -- The key columns to publish are the trigger's arguments.
  columns text := (select string_agg(format('%I', c), ', ') from unnest(TG_ARGV) as c);
  head text := format('{"table":%s,"op":%s,${tx}"at":', to_json(TG_TABLE_NAME::text), to_json(TG_OP::text)${txArgument});
` + REST;
}

const REST = `  rows_query text;
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
$fn$;`;
