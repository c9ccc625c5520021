import { Client } from 'pg';
import type { Evictions } from '../../../src/cache/evictions.ts';
import type { ChangeEvent } from '../../../src/orm/change-feed/change-events.ts';
import { Book } from '../../../src/orm/entities/index.ts';
import { testDrivers } from '../../support/database.ts';
import { insertFixture } from '../../support/fixtures.ts';
import { cachedEntities } from '../../support/cache-snapshot.ts';
import { startTestServer, type TestServer } from '../../support/test-server.ts';
import { gid } from '../../support/ids.ts';

const BOOK = `query($id: ID!) { book(id: $id) { title priceCents } }`;
const RENAME = `mutation($id: ID!, $title: String!) { updateBook(id: $id, input: { title: $title }) { title } }`;
const TX_ID = /^SELECT pg_current_xact_id\(\)/;

// The change feed reports every write, a mutation's too. What the mutation's own unit of work
// evicted after its commit is not applied a second time; everything else still is.
(testDrivers().includes('postgresql') ? describe : describe.skip)('the change feed and this process’s own transactions, on postgresql', () => {
  let server: TestServer;
  const invalidations: ReturnType<Evictions['describe']>[] = [];
  const feedEvents: ChangeEvent[][] = [];

  beforeAll(async () => {
    server = await startTestServer('postgresql', 'own-tx', {}, {
      invalidator: { applied: (evictions) => invalidations.push(evictions.describe()) },
      changeFeed: { applied: (events) => feedEvents.push([...events]) },
    });
    // Authors 1..3, 3 books each (book 3k+b belongs to author k+1).
    await insertFixture(server.app.orm, { authors: 3, booksPerAuthor: 3, reviewsPerBook: 1 });
  });
  afterAll(() => server?.close());
  const invalidator = () => server.app.cache.invalidator;

  /** Runs `write` from a settled feed; returns the invalidations applied and what the feed reported. */
  async function observe(write: () => Promise<unknown>) {
    await server.settled();
    invalidations.length = 0;
    feedEvents.length = 0;
    server.counters.reset();
    await write();
    await server.settled();
    return { invalidations: [...invalidations], feed: feedEvents.flat(), sql: [...server.counters.sql] };
  }

  it('a mutation is invalidated once: by its unit of work, not again by the feed (one SQL statement more)', async () => {
    expect((await server.gql(BOOK, { id: gid('Book', 1) })).data.book.title).toBe('Book 1.1');
    expect(await cachedEntities(server)).toContain('Book:1');

    const seen = await observe(() => server.gql(RENAME, { id: gid('Book', 1), title: 'Once' }));
    expect(seen.feed).toEqual([expect.objectContaining({ table: 'book', new: expect.objectContaining({ id: 1, title: 'Once' }) })]);
    expect(seen.invalidations).toHaveLength(1);
    expect(seen.invalidations[0]!.entities).toContain('Book:1');
    expect(seen.sql.filter((sql) => TX_ID.test(sql))).toHaveLength(1);
    expect((await server.gql(BOOK, { id: gid('Book', 1) })).data.book.title).toBe('Once');
  });

  it('a write of another program is applied by the feed, even with the same evictions as a mutation', async () => {
    const writer = new Client({ connectionString: server.db.url });
    await writer.connect();
    try {
      await server.gql(BOOK, { id: gid('Book', 1) });
      const seen = await observe(async () => {
        await server.gql(RENAME, { id: gid('Book', 1), title: 'Mutation' });
        await writer.query(`UPDATE book SET title = 'Plain SQL' WHERE id = 1`);
      });
      expect(seen.invalidations).toHaveLength(2);
      expect(seen.invalidations[1]).toEqual(seen.invalidations[0]);
      expect((await server.gql(BOOK, { id: gid('Book', 1) })).data.book.title).toBe('Plain SQL');
    } finally {
      await writer.end();
    }
  });

  it('what the unit of work did not evict — a native write in its transaction — is applied by the feed', async () => {
    await server.gql(BOOK, { id: gid('Book', 2) });
    await server.gql(BOOK, { id: gid('Book', 3) });
    const seen = await observe(() => invalidator().unitOfWork(() =>
      server.app.orm.em.fork().transactional(async (tx) => {
        (await tx.findOneOrFail(Book, 2)).priceCents = 201;
        await tx.flush();
        await tx.nativeUpdate(Book, { id: 3 }, { priceCents: 301 }); // no flush hook sees this
      })));
    expect(seen.feed.map((event) => event.new && event.new.id).sort()).toEqual([2, 3]);
    expect(seen.invalidations).toHaveLength(2);
    expect(seen.invalidations[0]!.entities).toContain('Book:2'); // the unit of work (its subscriber)
    expect(seen.invalidations[0]!.entities).not.toContain('Book:3');
    expect(seen.invalidations[1]!.entities).toEqual(['Book:3']); // the feed: only what was left
    expect((await server.gql(BOOK, { id: gid('Book', 3) })).data.book.priceCents).toBe(301);
  });

  it('a unit of work that fails after its commit evicts nothing itself: the feed applies it all', async () => {
    await server.gql(BOOK, { id: gid('Book', 4) });
    const seen = await observe(() => invalidator().unitOfWork(async () => {
      await server.app.orm.em.fork().transactional(async (tx) => {
        (await tx.findOneOrFail(Book, 4)).title = 'Committed, then failed';
      });
      throw new Error('after the commit');
    }).catch((error: Error) => error.message));
    expect(seen.invalidations).toHaveLength(1);
    expect(seen.invalidations[0]!.entities).toContain('Book:4');
    expect((await server.gql(BOOK, { id: gid('Book', 4) })).data.book.title).toBe('Committed, then failed');
  });

  it('a rolled-back unit of work publishes and evicts nothing', async () => {
    const seen = await observe(() => invalidator().unitOfWork(() =>
      server.app.orm.em.fork().transactional(async (tx) => {
        (await tx.findOneOrFail(Book, 5)).title = 'Rolled back';
        await tx.flush();
        throw new Error('roll back');
      })).catch(() => undefined));
    expect(seen).toEqual({ invalidations: [], feed: [], sql: expect.arrayContaining([expect.stringMatching(TX_ID)]) });
    expect((await server.gql(BOOK, { id: gid('Book', 5) })).data.book.title).toBe('Book 2.2');
  });
});
