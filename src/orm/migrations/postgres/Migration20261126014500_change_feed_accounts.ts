import { Migration } from '@mikro-orm/migrations';
import { createChangeFeedTriggers, dropChangeFeedTriggers } from './change-feed-triggers.ts';

/**
 * Written by hand, like Migration…_change_feed (whose function it reuses). PostgreSQL only.
 *
 * The accounts' tables join the change feed, so a plain-SQL write to them is invalidated like any
 * other: an account's row (`id` only: the password hash never leaves the database, and the cached
 * account is evicted on any change) and a favorite's `id`, `account_id` and `book_id` (which
 * account's favorites list it changes). Deleting an account cascades to its favorites, whose
 * triggers then report them.
 */
export class Migration20261126014500_change_feed_accounts extends Migration {

  override name = 'Migration20261126014500_change_feed_accounts';

  override up(): void | Promise<void> {
    const keyColumns: Record<string, string> = {
      account: `'id'`,
      favorite: `'id', 'account_id', 'book_id'`,
    };
    for (const [table, columns] of Object.entries(keyColumns)) {
      for (const sql of createChangeFeedTriggers(table, columns)) this.addSql(sql);
    }
  }

  override down(): void | Promise<void> {
    for (const table of ['account', 'favorite']) {
      for (const sql of dropChangeFeedTriggers(table)) this.addSql(sql);
    }
  }

}
