import { openCacheRuntime, type CacheRuntime } from '../../src/cache/cache-runtime.ts';
import { Book } from '../../src/orm/entities/index.ts';
import { createInvalidationSubscriber } from '../../src/orm/invalidation-subscriber.ts';
import { openOrm, type CatalogOrm } from '../../src/orm/open-orm.ts';
import { testDrivers } from '../support/database.ts';
import { insertFixture } from '../support/fixtures.ts';
import { cachedEntities } from '../support/cache-snapshot.ts';
import { gid } from '../support/ids.ts';
import { startTestServer, TEST_REDIS_URL, type TestServer } from '../support/test-server.ts';

// A job in another connection (its own ORM, its own cache runtime, the server's key prefix) holds
// a transaction open while the server keeps serving: nothing may be evicted before its commit,
// and nothing a reader fills meanwhile may survive the commit.
describe.each(testDrivers())('evictions after commit only, on %s', (driver) => {
  let server: TestServer;
  let job: { orm: CatalogOrm; cache: CacheRuntime };
  const QUERY = `{ book(id: "${gid('Book', 1)}") { title } }`;
  const title = async () => (await server.gql(QUERY)).data.book.title;

  beforeEach(async () => {
    server = await startTestServer(driver, `commit-${driver}`);
    await insertFixture(server.app.orm, { authors: 1, booksPerAuthor: 2, reviewsPerBook: 0 });
    const cache = await openCacheRuntime({ enabled: true, redisUrl: TEST_REDIS_URL, prefix: server.prefix });
    job = { cache, orm: await openOrm({ databaseUrl: server.db.url, subscribers: [createInvalidationSubscriber(cache.invalidator)] }) };
  });
  afterEach(async () => {
    await job.orm.close();
    await job.cache.close();
    await server.close();
  });

  it('a reader during an uncommitted write fills the committed value, which the commit then evicts', async () => {
    await job.orm.em.fork().transactional(async (tx) => {
      (await tx.findOneOrFail(Book, 1)).title = 'Committed later';
      await tx.flush();
      // Uncommitted: the server still reads (and caches) the old row, and nothing was evicted.
      expect(await title()).toBe('Book 1.1');
      expect(await cachedEntities(server)).toContain('Book:1');
      expect(await title()).toBe('Book 1.1');
    });
    expect(await cachedEntities(server)).not.toContain('Book:1');
    expect(await title()).toBe('Committed later');
  });

  it('a nested transaction (savepoint) evicts with the outermost commit, not its own', async () => {
    await title(); // cached
    await job.orm.em.fork().transactional(async (tx) => {
      await tx.transactional(async (inner) => {
        (await inner.findOneOrFail(Book, 1)).title = 'Inner write';
        await inner.flush();
      });
      expect(await cachedEntities(server)).toContain('Book:1'); // the savepoint released, not committed
      expect(await title()).toBe('Book 1.1');
    });
    expect(await title()).toBe('Inner write');
  });

  it('a rolled-back savepoint leaves its rows as they were, and the outer commit still evicts its own writes', async () => {
    await title();
    await job.orm.em.fork().transactional(async (tx) => {
      await expect(tx.transactional(async (inner) => {
        (await inner.findOneOrFail(Book, 2)).title = 'Rolled back';
        await inner.flush();
        throw new Error('inner failure');
      })).rejects.toThrow('inner failure');
      (await tx.findOneOrFail(Book, 1)).priceCents = 1;
      await tx.flush();
    });
    expect(await cachedEntities(server)).not.toContain('Book:1');
    const res = await server.gql(`{ a: book(id: "${gid('Book', 1)}") { priceCents } b: book(id: "${gid('Book', 2)}") { title } }`);
    expect(res.data).toEqual({ a: { priceCents: 1 }, b: { title: 'Book 1.2' } });
  });
});
