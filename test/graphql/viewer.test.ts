import { SignJWT } from 'jose';
import { testDrivers } from '../support/database.ts';
import { insertFixture } from '../support/fixtures.ts';
import { bumped, generations, added } from '../support/cache-snapshot.ts';
import { startTestServer, type GraphQLResponse, type TestServer } from '../support/test-server.ts';
import { gid } from '../support/ids.ts';

const SECRET = 'viewer-test-secret-of-at-least-32-bytes!';

async function gqlAs<T = any>(server: TestServer, authorization: string | null, query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<T>> {
  const res = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(authorization === null ? {} : { authorization }) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: GraphQLResponse['errors'] };
  return { status: res.status, headers: res.headers, ...body };
}

const SIGN_UP = `mutation($email: String!, $password: String!) { signUp(email: $email, password: $password) { token account { id email } } }`;
const LOG_IN = `mutation($email: String!, $password: String!) { logIn(email: $email, password: $password) { token account { id email } } }`;
const FAVORITES = `query($first: Int, $after: String) { viewer { id email favorites(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage endCursor } edges { node { id title } } } } }`;
const ADD = `mutation($id: ID!) { addFavorite(bookId: $id) { id } }`;
const REMOVE = `mutation($id: ID!) { removeFavorite(bookId: $id) { id } }`;

const ids = (res: GraphQLResponse) => res.data.viewer.favorites.edges.map((e: any) => e.node.id);

describe.each(testDrivers())('viewers and private data on %s', (driver) => {
  let server: TestServer;
  const as = (token: string | null) => (query: string, variables?: Record<string, unknown>) =>
    gqlAs(server, token === null ? null : `Bearer ${token}`, query, variables);

  async function signUp(email: string, password = 'correct horse') {
    const res = await gqlAs(server, null, SIGN_UP, { email, password });
    expect(res.errors).toBeUndefined();
    return res.data.signUp as { token: string; account: { id: string; email: string } };
  }
  async function accountRows(): Promise<number> {
    const [row] = await server.app.orm.em.fork().execute<{ n: unknown }[]>('SELECT COUNT(*) AS n FROM account');
    return Number(row!.n);
  }
  const accountId = (globalId: string) => Number(Buffer.from(globalId, 'base64url').toString().split(':')[1]);

  beforeEach(async () => {
    server = await startTestServer(driver, `viewer-${driver}`, { authSecret: SECRET, authTokenTtlSeconds: 3600 });
    // Authors 1..2 with books 1..5 and 6..10.
    await insertFixture(server.app.orm, { authors: 2, booksPerAuthor: 5, reviewsPerBook: 0 });
  });
  afterEach(() => server.close());

  it("sees another program's plain-SQL writes to its account and favorites once the change feed applies them", async () => {
    const { token, account } = await signUp('sql@example.com');
    const id = accountId(account.id);
    expect(ids(await as(token)(FAVORITES))).toEqual([]); // cached: the viewer's account and an empty favorites page
    const em = server.app.orm.em.fork();
    await em.execute('INSERT INTO favorite (account_id, book_id) VALUES (?, ?)', [id, 3]);
    await em.execute("UPDATE account SET email = 'renamed@example.com' WHERE id = ?", [id]);
    await server.settled();
    const after = await as(token)(FAVORITES);
    expect(after.data.viewer.email).toBe('renamed@example.com');
    expect(ids(after)).toEqual([gid('Book', 3)]);
    expect(after.data.viewer.favorites.totalCount).toBe(1);

    await em.execute('DELETE FROM favorite WHERE account_id = ?', [id]);
    await server.settled();
    expect(ids(await as(token)(FAVORITES))).toEqual([]);
  });

  it('signs up (email lower-cased), logs in case-insensitively, and answers the viewer', async () => {
    const { token, account } = await signUp('  Alice@Example.COM ');
    expect(account.email).toBe('alice@example.com');
    expect(Buffer.from(account.id, 'base64url').toString()).toMatch(/^Account:\d+$/);

    const viewer = await as(token)('{ viewer { id email } }');
    expect(viewer.data.viewer).toEqual(account);
    expect(viewer.headers.get('cache-control')).toBe('max-age=60, private');

    const logIn = await gqlAs(server, null, LOG_IN, { email: 'ALICE@example.com', password: 'correct horse' });
    expect(logIn.data.logIn.account).toEqual(account);
    expect((await as(logIn.data.logIn.token)('{ viewer { email } }')).data.viewer.email).toBe('alice@example.com');

    const anonymous = await gqlAs(server, null, '{ viewer { id } }');
    expect(anonymous.data.viewer).toBeNull();
    expect(anonymous.headers.get('cache-control')).toMatch(/private/);
  });

  it('refuses a wrong password and an unknown email with the same UNAUTHENTICATED error', async () => {
    await signUp('bob@example.com');
    const wrongPassword = await gqlAs(server, null, LOG_IN, { email: 'bob@example.com', password: 'not his password' });
    const unknownEmail = await gqlAs(server, null, LOG_IN, { email: 'nobody@example.com', password: 'correct horse' });
    for (const res of [wrongPassword, unknownEmail]) {
      expect(res.data).toBeNull();
      expect(res.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    }
    expect(wrongPassword.errors![0]!.message).toBe(unknownEmail.errors![0]!.message);
  });

  it('refuses bad sign-up input with BAD_USER_INPUT and a duplicate email with CONFLICT, writing and caching nothing', async () => {
    await signUp('carol@example.com');
    const keysBefore = await server.keys();
    server.counters.reset();
    const cases: [string, string, string][] = [
      ['not-an-email', 'long enough', 'BAD_USER_INPUT'],
      ['a@b', 'long enough', 'BAD_USER_INPUT'],
      ['dave@example.com', 'short', 'BAD_USER_INPUT'],
      ['dave@example.com', 'x'.repeat(1025), 'BAD_USER_INPUT'],
      ['CAROL@example.com', 'another password', 'CONFLICT'],
    ];
    for (const [email, password, code] of cases) {
      const res = await gqlAs(server, null, SIGN_UP, { email, password });
      expect([email, res.errors?.[0]?.extensions?.code]).toEqual([email, code]);
    }
    // Only the duplicate reached the database (its INSERT failed and rolled back).
    expect(server.counters.statements().filter((s) => /^\s*insert/i.test(s))).toHaveLength(1);
    expect(await accountRows()).toBe(1);
    expect(added(keysBefore, await server.keys())).toEqual([]);
  });

  it("pages the viewer's favorites, newest first, with PRIVATE cache headers", async () => {
    const { token } = await signUp('erin@example.com');
    for (const book of [1, 2, 3, 4, 5]) expect((await as(token)(ADD, { id: gid('Book', book) })).errors).toBeUndefined();
    // Idempotent: adding again neither fails nor duplicates.
    expect((await as(token)(ADD, { id: gid('Book', 3) })).errors).toBeUndefined();

    const seen: string[] = [];
    let after: string | null = null;
    for (const expected of [[5, 4], [3, 2], [1]]) {
      const res = await as(token)(FAVORITES, { first: 2, after });
      expect(res.headers.get('cache-control')).toBe('max-age=60, private');
      expect(ids(res)).toEqual(expected.map((b) => gid('Book', b)));
      expect(res.data.viewer.favorites.totalCount).toBe(5);
      expect(res.data.viewer.favorites.pageInfo.hasNextPage).toBe(expected.length === 2);
      seen.push(...ids(res));
      after = res.data.viewer.favorites.pageInfo.endCursor;
    }
    expect(new Set(seen).size).toBe(5);

    // A warm read is served from the cache, the viewer's own account row included (its own key).
    server.counters.reset();
    await as(token)(FAVORITES, { first: 2 });
    expect(server.counters.statements()).toEqual([]);
    const accountKeys = await server.keys('*:e:{Account:*');
    expect(accountKeys).toHaveLength(1);
    // Only what the resolvers need: never the password hash.
    expect(Object.keys(JSON.parse((await server.redis.get(accountKeys[0]!))!).v).sort()).toEqual(['email', 'id']);

    const bad = await as(token)(FAVORITES, { first: 2, after: 'nonsense' });
    expect(bad.errors![0]!.extensions!.code).toBe('BAD_USER_INPUT');
  });

  it("adding and removing a favorite invalidates that viewer's favorites only", async () => {
    const frank = await signUp('frank@example.com');
    const grace = await signUp('grace@example.com');
    await as(frank.token)(ADD, { id: gid('Book', 1) });
    await as(grace.token)(ADD, { id: gid('Book', 6) });
    await as(frank.token)(FAVORITES, { first: 10 });
    await as(grace.token)(FAVORITES, { first: 10 });
    const gens = await generations(server);
    const pageKeys = await server.keys('*:p:*');

    const added = await as(frank.token)(ADD, { id: gid('Book', 2) });
    expect(added.data.addFavorite.id).toBe(frank.account.id);
    expect(added.headers.get('cache-control')).toBe('no-store');
    expect(bumped(gens, await generations(server))).toEqual([`account.${accountId(frank.account.id)}.favorites`]);
    expect(await server.keys('*:p:*')).toEqual(pageKeys); // pages are retired by generation, not deleted

    server.counters.reset();
    const graces = await as(grace.token)(FAVORITES, { first: 10 });
    expect(ids(graces)).toEqual([gid('Book', 6)]);
    expect(server.counters.statementsOn('favorite')).toEqual([]); // grace's page stayed valid

    const franks = await as(frank.token)(FAVORITES, { first: 10 });
    expect(ids(franks)).toEqual([gid('Book', 2), gid('Book', 1)]);

    const gens2 = await generations(server);
    await as(frank.token)(REMOVE, { id: gid('Book', 1) });
    expect(bumped(gens2, await generations(server))).toEqual([`account.${accountId(frank.account.id)}.favorites`]);
    expect(ids(await as(frank.token)(FAVORITES, { first: 10 }))).toEqual([gid('Book', 2)]);

    // A no-op removal and a repeated add evict nothing.
    const gens3 = await generations(server);
    await as(frank.token)(REMOVE, { id: gid('Book', 9) });
    await as(frank.token)(ADD, { id: gid('Book', 2) });
    expect(bumped(gens3, await generations(server))).toEqual([]);
  });

  it("deleting a book refreshes the favorites of every viewer who had it", async () => {
    const heidi = await signUp('heidi@example.com');
    await as(heidi.token)(ADD, { id: gid('Book', 3) });
    await as(heidi.token)(ADD, { id: gid('Book', 4) });
    expect((await as(heidi.token)(FAVORITES, { first: 10 })).data.viewer.favorites.totalCount).toBe(2);
    await server.gql(`mutation { deleteBook(id: "${gid('Book', 3)}") }`);
    const after = await as(heidi.token)(FAVORITES, { first: 10 });
    expect(ids(after)).toEqual([gid('Book', 4)]);
    expect(after.data.viewer.favorites.totalCount).toBe(1);
  });

  it("never answers one viewer with another's favorites, nor anonymous requests with private data, under concurrency", async () => {
    const ivan = await signUp('ivan@example.com');
    const judy = await signUp('judy@example.com');
    for (const b of [1, 2]) await as(ivan.token)(ADD, { id: gid('Book', b) });
    for (const b of [6, 7]) await as(judy.token)(ADD, { id: gid('Book', b) });
    const allowed = { ivan: new Set([1, 2, 3, 4, 5].map((b) => gid('Book', b))), judy: new Set([6, 7, 8, 9, 10].map((b) => gid('Book', b))) };

    const adds = { ivan: [3, 4, 5], judy: [8, 9, 10] };
    const requests = Array.from({ length: 60 }, (_, i) => {
      const who = (['ivan', 'judy', 'anonymous'] as const)[i % 3]!;
      if (who === 'anonymous') return gqlAs(server, null, FAVORITES, { first: 10 }).then((res) => ({ who, res }));
      const user = who === 'ivan' ? ivan : judy;
      // Every fourth request of a viewer adds one of their own books meanwhile.
      if (i % 4 === 0) {
        const book = adds[who].shift() ?? (who === 'ivan' ? 1 : 6);
        return as(user.token)(ADD, { id: gid('Book', book) }).then((res) => ({ who: 'mutation' as const, res }));
      }
      return as(user.token)(FAVORITES, { first: 10 }).then((res) => ({ who, res }));
    });
    const answers = await Promise.all(requests);
    let checked = 0;
    for (const { who, res } of answers) {
      expect(res.errors).toBeUndefined();
      if (who === 'mutation') continue;
      if (who === 'anonymous') {
        expect(res.data.viewer).toBeNull();
      } else {
        expect(res.data.viewer.email).toBe(`${who}@example.com`);
        for (const id of ids(res)) expect(allowed[who].has(id)).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(20);
    // Afterwards each sees exactly their own.
    expect(new Set(ids(await as(ivan.token)(FAVORITES, { first: 10 })))).toEqual(allowed.ivan);
    expect(new Set(ids(await as(judy.token)(FAVORITES, { first: 10 })))).toEqual(allowed.judy);
  });

  describe('bad credentials fail the whole request with 401 UNAUTHENTICATED, reading and caching nothing', () => {
    const key = new TextEncoder().encode(SECRET);
    const cases: [string, () => Promise<string>][] = [
      ['a token signed with another key', async () =>
        `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('1').setExpirationTime('1h').sign(new TextEncoder().encode('x'.repeat(40)))}`],
      ['an expired token', async () =>
        `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('1').setIssuedAt(Math.floor(Date.now() / 1000) - 7200).setExpirationTime(Math.floor(Date.now() / 1000) - 3600).sign(key)}`],
      ['a token without exp', async () => `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('1').sign(key)}`],
      ['a token whose sub is not an account id', async () =>
        `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('admin').setExpirationTime('1h').sign(key)}`],
      ['an unsigned (alg none) token', async () => `Bearer ${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"1","exp":9999999999}').toString('base64url')}.`],
      ['a malformed token', async () => 'Bearer not.a.jwt'],
      ['a header without the Bearer scheme', async () => 'Basic YWxpY2U6c2VjcmV0'],
      ['an empty header', async () => ''],
    ];
    it.each(cases)('%s', async (_, header) => {
      const { token } = await signUp('mallory@example.com');
      await as(token)(ADD, { id: gid('Book', 1) });
      const keysBefore = await server.keys();
      server.counters.reset();
      const res = await gqlAs(server, await header(), FAVORITES, { first: 10 });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer error=/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.data).toBeUndefined();
      expect(res.errors).toHaveLength(1);
      expect(res.errors![0]!.extensions).toEqual({ code: 'UNAUTHENTICATED' });
      expect(server.counters.statements()).toEqual([]);
      expect(added(keysBefore, await server.keys())).toEqual([]);
      // Nor can a bad token write.
      const write = await gqlAs(server, await header(), ADD, { id: gid('Book', 2) });
      expect(write.status).toBe(401);
      expect(server.counters.statements()).toEqual([]);
    });
  });

  it('answers favorite mutations of anonymous requests with UNAUTHENTICATED, writing nothing', async () => {
    const gens = await generations(server);
    server.counters.reset();
    for (const mutation of [ADD, REMOVE]) {
      const res = await gqlAs(server, null, mutation, { id: gid('Book', 1) });
      expect(res.errors![0]!.extensions!.code).toBe('UNAUTHENTICATED');
    }
    expect(server.counters.statements()).toEqual([]);
    expect(bumped(gens, await generations(server))).toEqual([]);
  });

  it('answers a favorite of an unknown book with NOT_FOUND, writing nothing', async () => {
    const { token } = await signUp('oscar@example.com');
    const gens = await generations(server);
    for (const id of [gid('Book', 999), gid('Author', 1), 'garbage']) {
      const res = await as(token)(ADD, { id });
      expect(res.errors![0]!.extensions!.code).toBe('NOT_FOUND');
    }
    expect(bumped(gens, await generations(server))).toEqual([]);
    expect(ids(await as(token)(FAVORITES, { first: 10 }))).toEqual([]);
  });
});
