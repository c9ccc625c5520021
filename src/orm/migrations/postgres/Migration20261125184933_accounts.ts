import { Migration } from '@mikro-orm/migrations';

export class Migration20261125184933_accounts extends Migration {

  override name = 'Migration20261125184933_accounts';

  override up(): void | Promise<void> {
    this.addSql(`create table "account" ("id" serial primary key, "email" varchar(255) not null, "password_hash" varchar(255) not null, "created_at" timestamptz not null default current_timestamp);`);
    this.addSql(`alter table "account" add constraint "account_email_unique" unique ("email");`);

    this.addSql(`create table "favorite" ("id" serial primary key, "account_id" int not null, "book_id" int not null, "created_at" timestamptz not null default current_timestamp);`);
    this.addSql(`create index "favorite_book_id_index" on "favorite" ("book_id");`);
    this.addSql(`alter table "favorite" add constraint "favorite_account_id_book_id_unique" unique ("account_id", "book_id");`);

    this.addSql(`alter table "favorite" add constraint "favorite_account_id_foreign" foreign key ("account_id") references "account" ("id") on delete cascade;`);
    this.addSql(`alter table "favorite" add constraint "favorite_book_id_foreign" foreign key ("book_id") references "book" ("id") on delete cascade;`);
  }

  // The diff also re-created the change-feed triggers here as empty stubs (it ignores triggers only
  // one way): removed, they belong to Migration…_change_feed and are untouched by this one.
  // Edited: the diff also re-created the change-feed triggers here as empty stubs (it ignores
  // triggers in up() only); they belong to Migration…_change_feed, which this one does not touch.
  override down(): void | Promise<void> {
    this.addSql(`alter table "favorite" drop constraint "favorite_account_id_foreign";`);

    this.addSql(`drop table if exists "account" cascade;`);
    this.addSql(`drop table if exists "favorite" cascade;`);
  }

}
