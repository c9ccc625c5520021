import { Migration } from '@mikro-orm/migrations';
import { publishChangesFunction } from './change-feed-function.ts';

/**
 * Written by hand. PostgreSQL only. Every change notification now names the transaction that
 * wrote it (`"tx":"<pg_current_xact_id()>"`), so a server whose own unit of work already
 * invalidated those rows after the commit can skip repeating it (own-transactions.ts). The
 * triggers are unchanged: they call the function by name.
 */
export class Migration20261126160000_change_feed_transactions extends Migration {

  override name = 'Migration20261126160000_change_feed_transactions';

  override up(): void | Promise<void> {
    this.addSql(publishChangesFunction({ transactionIds: true }));
  }

  override down(): void | Promise<void> {
    this.addSql(publishChangesFunction({ transactionIds: false }).replace(/^create function/, 'create or replace function'));
  }

}
