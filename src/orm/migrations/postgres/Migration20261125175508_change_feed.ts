import { Migration } from '@mikro-orm/migrations';
import { publishChangesFunction } from './change-feed-function.ts';
import { createChangeFeedTriggers, dropChangeFeedTriggers } from './change-feed-triggers.ts';

/**
 * Written by hand (the entity diff knows nothing of it; `schemaGenerator.ignoreTriggers` keeps
 * `npm run migration:create` from proposing to drop it). PostgreSQL only.
 *
 * Every INSERT, UPDATE and DELETE on author, book and review — whoever sends it: the ORM's unit of
 * work, em.nativeUpdate/nativeDelete, a QueryBuilder, ON DELETE CASCADE, psql, another program —
 * is published on the channel `catalog_changes` with the key fields of each row before and after:
 *   {"table":"book","op":"UPDATE","at":<clock_timestamp() in epoch ms>,"rows":[[old,new],…]}
 * (Migration…_change_feed_transactions adds the writing transaction's id, `"tx"`.)
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
    this.addSql(publishChangesFunction({ transactionIds: false }));

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
