import { Migration } from '@mikro-orm/migrations';

export class Migration20261125172810_initial extends Migration {

  override name = 'Migration20261125172810_initial';

  override up(): void | Promise<void> {
    this.addSql(`create table \`author\` (\`id\` integer not null primary key autoincrement, \`name\` text not null, \`bio\` text null);`);

    this.addSql(`create table \`book\` (\`id\` integer not null primary key autoincrement, \`title\` text not null, \`isbn\` text not null, \`price_cents\` integer not null, \`published_year\` integer null, \`author_id\` integer not null, constraint \`book_author_id_foreign\` foreign key (\`author_id\`) references \`author\` (\`id\`) on delete cascade);`);
    this.addSql(`create unique index \`book_isbn_unique\` on \`book\` (\`isbn\`);`);
    this.addSql(`create index \`book_author_id_index\` on \`book\` (\`author_id\`);`);

    this.addSql(`create table \`review\` (\`id\` integer not null primary key autoincrement, \`rating\` integer not null, \`body\` text null, \`book_id\` integer not null, \`created_at\` datetime not null default (cast(round((julianday('now') - 2440587.5) * 86400000) as integer)), constraint \`review_book_id_foreign\` foreign key (\`book_id\`) references \`book\` (\`id\`) on delete cascade);`);
    this.addSql(`create index \`review_book_id_index\` on \`review\` (\`book_id\`);`);
  }

  override down(): void | Promise<void> {

    this.addSql(`drop table if exists \`author\`;`);
    this.addSql(`drop table if exists \`book\`;`);
    this.addSql(`drop table if exists \`review\`;`);
  }

}
