import { insertFixture } from '../support/fixtures.ts';
import { gid } from '../support/ids.ts';
import { ownRedis, type OwnRedis } from '../support/own-redis.ts';
import { postGraphQL, startTestServer, type TestServer } from '../support/test-server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Redis crashes mid-load and comes back with its data (AOF): the cache must cost no request, and
// what it held from before the outage must not be served once a write has been made meanwhile.
// A request's Redis commands go over a second connection (fast-connection.ts), with the
// whole-response cache on or off: it too must fail fast, fall back, and reconnect by itself.
describe.each([false, true])('a Redis outage under load (whole-response cache: %s)', (responseCache) => {
  let redis: OwnRedis;
  let server: TestServer;

  beforeAll(async () => {
    redis = await ownRedis({ persist: true });
    server = await startTestServer('sqlite', 'outage', { redisUrl: redis.url, responseCache });
    await insertFixture(server.app.orm, { authors: 2, booksPerAuthor: 3, reviewsPerBook: 1 });
  });
  afterAll(async () => {
    await server.close();
    await redis.dispose();
  });

  it('fails no request, serves nothing stale, and uses the cache again after an epoch bump', async () => {
    const book = gid('Book', 1);
    const READ = `{ book(id: "${book}") { title } books(first: 5) { edges { node { title } } } }`;
    expect((await server.gql(READ)).data.book.title).toBe('Book 1.1');
    const epochBefore = server.app.cache.epoch.current();

    let writtenAt = Infinity;
    let running = true;
    const failures: unknown[] = [];
    const stale: string[] = [];
    let reads = 0;
    const reader = async () => {
      while (running) {
        const startedAt = performance.now();
        const res = await postGraphQL(server.url, READ).catch((error) => ({ status: 0, errors: [error], data: undefined }));
        reads++;
        if (res.status !== 200 || res.errors) failures.push(res.errors ?? res.status);
        else if (startedAt > writtenAt && res.data.book.title !== 'Written during the outage') stale.push(res.data.book.title);
      }
    };
    const readers = Array.from({ length: 8 }, reader);

    await sleep(200);
    await redis.kill();
    await sleep(300); // reads keep succeeding, from the database
    const write = await server.gql(`mutation { updateBook(id: "${book}", input: { title: "Written during the outage" }) { title } }`);
    expect(write.errors).toBeUndefined();
    writtenAt = performance.now();
    await sleep(200);

    await redis.start(); // comes back with the pre-outage entries, Book:1's old title among them
    for (let i = 0; i < 200 && !server.app.cache.usable(); i++) await sleep(50); // reconnect backoff is at most 2 s
    expect(server.app.cache.usable()).toBe(true);
    for (let i = 0; i < 100 && !server.app.cache.fastConnection!.ready(); i++) await sleep(50);
    await sleep(300);
    running = false;
    await Promise.all(readers);

    expect(failures).toEqual([]);
    expect(stale).toEqual([]);
    expect(reads).toBeGreaterThan(20);
    expect(server.app.cache.epoch.current()).toBeGreaterThan(epochBefore); // the repair
    server.counters.reset();
    expect((await server.gql(READ)).data.book.title).toBe('Written during the outage');
    expect(server.counters.statements()).toEqual([]); // the cache serves again (refilled by the load)
    expect(server.app.cache.fastConnection!.ready()).toBe(true); // and its second connection is back
  }, 45_000);

  it('starts and serves with Redis down', async () => {
    await redis.kill();
    try {
      const other = await startTestServer('sqlite', 'outage-start', { redisUrl: redis.url, responseCache });
      try {
        await insertFixture(other.app.orm, { authors: 1, booksPerAuthor: 1, reviewsPerBook: 0 });
        const res = await other.gql('{ books { totalCount } }');
        expect(res.data).toEqual({ books: { totalCount: 1 } });
      } finally {
        await other.close();
      }
    } finally {
      await redis.start();
    }
  }, 45_000);
});
