import { Migration } from '@mikro-orm/migrations';

export class Migration20261127161930_parent_id_indexes extends Migration {

  override name = 'Migration20261127161930_parent_id_indexes';

  // SQLite keeps the foreign keys' single-column indexes: MikroORM declares one for every foreign key
  // there (a diff without them proposes them again).
  override up(): void | Promise<void> {
    this.addSql(`create index \`book_author_id_id_index\` on \`book\` (\`author_id\`, \`id\`);`);

    this.addSql(`create index \`review_book_id_id_index\` on \`review\` (\`book_id\`, \`id\`);`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index \`book_author_id_id_index\`;`);

    this.addSql(`drop index \`review_book_id_id_index\`;`);
  }

}
