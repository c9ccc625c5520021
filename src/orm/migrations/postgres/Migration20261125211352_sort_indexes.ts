import { Migration } from '@mikro-orm/migrations';

export class Migration20261125211352_sort_indexes extends Migration {

  override name = 'Migration20261125211352_sort_indexes';

  override up(): void | Promise<void> {
    this.addSql(`create index "book_price_cents_id_index" on "book" ("price_cents", "id");`);
    this.addSql(`create index "book_title_id_index" on "book" ("title", "id");`);
  }

  // Edited: the diff also re-created the change-feed triggers here as empty stubs (it ignores
  // triggers in up() only); they belong to Migration…_change_feed, which this one does not touch.
  override down(): void | Promise<void> {
    this.addSql(`drop index "book_price_cents_id_index";`);
    this.addSql(`drop index "book_title_id_index";`);
  }

}
