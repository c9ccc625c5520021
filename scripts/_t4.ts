import { openOrm } from '../src/orm/open-orm.ts';
import { seedCatalog } from '../src/orm/seed/seed-catalog.ts';
import { createTestDatabase } from '../test/support/database.ts';
for (const driver of ['postgresql', 'sqlite'] as const) {
  const db = await createTestDatabase(driver, 'perf');
  let n = 0;
  const orm = await openOrm({ databaseUrl: db.url, onQuery: () => n++ });
  n = 0;
  const t = performance.now();
  await seedCatalog(orm, { authors: 1000, books: 20000, reviews: 100000 });
  console.log(driver, Math.round(performance.now() - t), 'ms', n, 'statements');
  console.log(await orm.em.getConnection().execute('select (select count(*) from author) a, (select count(*) from book) b, (select count(*) from review) r, (select count(distinct isbn) from book) i'));
  console.log(await orm.em.getConnection().execute('select * from review order by id limit 2'));
  await orm.close();
  await db.drop();
}
