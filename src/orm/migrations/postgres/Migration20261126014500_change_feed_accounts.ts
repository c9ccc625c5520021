import { Migration } from '@mikro-orm/migrations';

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
      const publish = `for each statement execute function "catalog_publish_changes"(${columns})`;
      this.addSql(`create trigger "catalog_changes_insert" after insert on "${table}" referencing new table as new_rows ${publish};`);
      this.addSql(`create trigger "catalog_changes_update" after update on "${table}" referencing old table as old_rows new table as new_rows ${publish};`);
      this.addSql(`create trigger "catalog_changes_delete" after delete on "${table}" referencing old table as old_rows ${publish};`);
      this.addSql(`create trigger "catalog_changes_truncate" after truncate on "${table}" for each statement execute function "catalog_publish_changes"();`);
    }
  }

  override down(): void | Promise<void> {
    for (const table of ['account', 'favorite']) {
      for (const operation of ['insert', 'update', 'delete', 'truncate']) {
        this.addSql(`drop trigger if exists "catalog_changes_${operation}" on "${table}";`);
      }
    }
  }

}
