import type { EventSubscriber, FlushEventArgs, TransactionEventArgs } from '@mikro-orm/core';
import { openOrm } from '../src/orm/open-orm.ts';
import { Author, Book, Review } from '../src/orm/entities/index.ts';
import { createTestDatabase } from '../test/support/database.ts';

const events: string[] = [];
const cs = (a: { uow?: FlushEventArgs['uow'] }) => a.uow ? [...a.uow.getChangeSets()].map(c => `${c.type}:${c.meta.className}#${c.getPrimaryKey()} payload=${JSON.stringify(c.payload)} orig=${JSON.stringify(c.originalEntity)}`).join(' | ') : '-';
const sub: EventSubscriber = {
  onFlush: (a) => { events.push('onFlush ' + cs(a)); },
  afterFlush: (a) => { events.push('afterFlush ' + cs(a)); },
  beforeTransactionStart: (a: TransactionEventArgs) => { events.push('beforeTxStart sp=' + a.transaction?.savepointName); },
  afterTransactionCommit: (a: TransactionEventArgs) => { events.push('afterTxCommit sp=' + a.transaction?.savepointName + ' ' + cs(a)); },
  afterTransactionRollback: (a: TransactionEventArgs) => { events.push('afterTxRollback sp=' + a.transaction?.savepointName); },
  afterDelete: (a) => { events.push('afterDelete ' + a.meta.className); },
};
for (const driver of ['sqlite'] as const) {
  const db = await createTestDatabase(driver, 't6');
  const orm = await openOrm({ databaseUrl: db.url, subscribers: [sub], onQuery: (q) => events.push('  SQL ' + q) });
  const em = orm.em.fork();
  const a = em.create(Author, { name: 'A' });
  const a2 = em.create(Author, { name: 'A2' });
  const b = em.create(Book, { title: 'T', isbn: '1', priceCents: 1, author: a });
  em.create(Review, { rating: 1, book: b });
  await em.flush();
  console.log('--- plain flush\n' + events.join('\n')); events.length = 0;
  b.author = a2; b.title = 'T2';
  await em.flush();
  console.log('--- move book\n' + events.join('\n')); events.length = 0;
  await em.transactional(async (tem) => {
    const x = await tem.findOneOrFail(Author, a.id);
    x.name = 'renamed';
    await tem.flush();
    events.push('(flushed inside transactional)');
    await tem.transactional(async (t2) => { t2.create(Author, { name: 'nested' }); });
  });
  console.log('--- transactional\n' + events.join('\n')); events.length = 0;
  const em3 = orm.em.fork();
  em3.remove(em3.getReference(Author, a2.id));
  await em3.flush();
  console.log('--- remove author by reference\n' + events.join('\n')); events.length = 0;
  console.log(await em3.getConnection().execute('select (select count(*) from book) b, (select count(*) from review) r'));
  await orm.close();
  await db.drop();
}
