import { Migration } from '@mikro-orm/migrations';

export class Migration20261125184933_accounts extends Migration {

  override name = 'Migration20261125184933_accounts';

  override up(): void | Promise<void> {
    this.addSql(`create table \`account\` (\`id\` integer not null primary key autoincrement, \`email\` text not null, \`password_hash\` text not null, \`created_at\` datetime not null default (cast(round((julianday('now') - 2440587.5) * 86400000) as integer)));`);
    this.addSql(`create unique index \`account_email_unique\` on \`account\` (\`email\`);`);

    this.addSql(`create table \`favorite\` (\`id\` integer not null primary key autoincrement, \`account_id\` integer not null, \`book_id\` integer not null, \`created_at\` datetime not null default (cast(round((julianday('now') - 2440587.5) * 86400000) as integer)), constraint \`favorite_account_id_foreign\` foreign key (\`account_id\`) references \`account\` (\`id\`) on delete cascade, constraint \`favorite_book_id_foreign\` foreign key (\`book_id\`) references \`book\` (\`id\`) on delete cascade);`);
    this.addSql(`create index \`favorite_account_id_index\` on \`favorite\` (\`account_id\`);`);
    this.addSql(`create index \`favorite_book_id_index\` on \`favorite\` (\`book_id\`);`);
    this.addSql(`create unique index \`favorite_account_id_book_id_unique\` on \`favorite\` (\`account_id\`, \`book_id\`);`);
  }

  override down(): void | Promise<void> {

    this.addSql(`drop table if exists \`account\`;`);
    this.addSql(`drop table if exists \`favorite\`;`);
  }

}
