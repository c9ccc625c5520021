import { Migration } from '@mikro-orm/migrations';

export class Migration20261127161930_parent_id_indexes extends Migration {

  override name = 'Migration20261127161930_parent_id_indexes';

  override up(): void | Promise<void> {
    this.addSql(`drop index "book_author_id_index";`);
    this.addSql(`create index "book_author_id_id_index" on "book" ("author_id", "id");`);

    this.addSql(`drop index "review_book_id_index";`);
    this.addSql(`create index "review_book_id_id_index" on "review" ("book_id", "id");`);
  }

  // Edited: the diff also re-created the change-feed triggers here as empty stubs (it ignores
  // triggers in up() only); they belong to the change-feed migrations, which this one does not touch.
  override down(): void | Promise<void> {
    this.addSql(`drop index "book_author_id_id_index";`);
    this.addSql(`create index "book_author_id_index" on "book" ("author_id");`);

    this.addSql(`drop index "review_book_id_id_index";`);
    this.addSql(`create index "review_book_id_index" on "review" ("book_id");`);
  }

}
