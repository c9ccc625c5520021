import { Migration } from '@mikro-orm/migrations';

export class Migration20261125172810_initial extends Migration {

  override name = 'Migration20261125172810_initial';

  override up(): void | Promise<void> {
    this.addSql(`create table "author" ("id" serial primary key, "name" varchar(255) not null, "bio" text null);`);

    this.addSql(`create table "book" ("id" serial primary key, "title" varchar(255) not null, "isbn" varchar(255) not null, "price_cents" int not null, "published_year" int null, "author_id" int not null);`);
    this.addSql(`alter table "book" add constraint "book_isbn_unique" unique ("isbn");`);
    this.addSql(`create index "book_author_id_index" on "book" ("author_id");`);

    this.addSql(`create table "review" ("id" serial primary key, "rating" int not null, "body" text null, "book_id" int not null, "created_at" timestamptz not null default current_timestamp);`);
    this.addSql(`create index "review_book_id_index" on "review" ("book_id");`);

    this.addSql(`alter table "book" add constraint "book_author_id_foreign" foreign key ("author_id") references "author" ("id") on delete cascade;`);

    this.addSql(`alter table "review" add constraint "review_book_id_foreign" foreign key ("book_id") references "book" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "book" drop constraint "book_author_id_foreign";`);
    this.addSql(`alter table "review" drop constraint "review_book_id_foreign";`);

    this.addSql(`drop table if exists "author" cascade;`);
    this.addSql(`drop table if exists "book" cascade;`);
    this.addSql(`drop table if exists "review" cascade;`);
  }

}
