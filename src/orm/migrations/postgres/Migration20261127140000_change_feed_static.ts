import { Migration } from '@mikro-orm/migrations';
import { CHANGE_COLUMNS } from '../../change-feed/change-events.ts';
import { createChangeFeedTriggers, createTableChangeFeed, dropChangeFeedTriggers, dropTableChangeFeed } from './change-feed-triggers.ts';

/**
 * Written by hand, like Migration…_change_feed. PostgreSQL only.
 *
 * The change feed's triggers call a function of their own per table and operation, with static
 * SQL (createTableChangeFeed), instead of the shared `catalog_publish_changes`, which built and
 * EXECUTEd its row query on every statement: the same notifications, at about half of what the
 * feed cost each write. The shared function stays (down() puts the triggers back on it). Each table
 * publishes the key columns the listener reads (CHANGE_COLUMNS), as before.
 */
export class Migration20261127140000_change_feed_static extends Migration {

  override name = 'Migration20261127140000_change_feed_static';

  override up(): void | Promise<void> {
    for (const [table, columns] of Object.entries(CHANGE_COLUMNS)) {
      for (const sql of dropChangeFeedTriggers(table)) this.addSql(sql);
      for (const sql of createTableChangeFeed(table, columns)) this.addSql(sql);
    }
  }

  override down(): void | Promise<void> {
    for (const [table, columns] of Object.entries(CHANGE_COLUMNS)) {
      for (const sql of dropTableChangeFeed(table)) this.addSql(sql);
      for (const sql of createChangeFeedTriggers(table, columns.map((c) => `'${c}'`).join(', '))) this.addSql(sql);
    }
  }

}
