import { insertFixture } from '../support/fixtures.ts';
import { testDrivers } from '../support/database.ts';
import { added } from '../support/cache-snapshot.ts';
import { gid } from '../support/ids.ts';
import { startTestServer, type GraphQLResponse, type TestServer } from '../support/test-server.ts';

/**
 * A well-formed id that names nothing. Clients never build ids; the test does so only here, to
 * reach the "unknown id" paths (global-id.ts: base64url of `<Type>:<id>`).
 */
const unknownId = (type: 'Author' | 'Book' | 'Review', id = 999_999) => gid(type, id);

/** Encodes a cursor's JSON payload the way cursor.ts does; used only to tamper with a real cursor. */
const reencodeCursor = (cursor: string, edit: (payload: unknown[]) => unknown[]) =>
  Buffer.from(JSON.stringify(edit(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'))))).toString('base64url');

const MALFORMED_ID = 'not-an-id';

interface Rejection {
  /** Sends the bad request. */
  send: () => Promise<GraphQLResponse>;
  code: string;
  message: RegExp;
  /** Expected HTTP status (GraphQL-level errors in resolvers keep 200). */
  status?: number;
  /** True when the input can be refused before any SQL is sent. */
  noSql?: boolean;
}

describe.each(testDrivers())('bad input on %s', (driver) => {
  let server: TestServer;
  let ids: { author1: string; author2: string; book11: string; book12: string; book21: string; review: string };

  const sql = (statement: string) => server.app.orm.em.fork().execute<Record<string, unknown>[]>(statement);

  /** Every row of every table: the strongest "nothing was written" check for a catalog this small. */
  async function tables() {
    return {
      author: await sql('SELECT id, name, bio FROM author ORDER BY id'),
      book: await sql('SELECT id, title, isbn, price_cents, published_year, author_id FROM book ORDER BY id'),
      review: await sql('SELECT id, rating, body, book_id, created_at FROM review ORDER BY id'),
    };
  }

  async function gql(query: string, variables?: Record<string, unknown>) {
    const res = await server.gql(query, variables);
    expect(res.errors).toBeUndefined();
    return res.data;
  }

  /** The server still answers a valid query, with data that shows no write happened. */
  async function expectStillServing(): Promise<void> {
    const res = await server.gql('{ books(first: 1) { totalCount edges { node { title } } } authors(first: 1) { totalCount } }');
    expect(res.errors).toBeUndefined();
    expect(res.data.books.totalCount).toBe(6);
    expect(res.data.books.edges).toHaveLength(1);
    expect(res.data.authors.totalCount).toBe(3);
  }

  /**
   * Sends a bad request and checks the whole contract: exactly one error with the expected code
   * and a message naming the problem, no row written, no cache key added or removed, no cache
   * write or invalidation sent to Redis, and a server that still answers.
   */
  async function expectRejected({ send, code, message, status = 200, noSql = false }: Rejection): Promise<GraphQLResponse> {
    const rowsBefore = await tables();
    const keysBefore = await server.keys(); // right before: earlier valid reads did cache
    server.counters.reset();

    const res = await send();
    const statements = server.counters.statements();
    const writes = server.counters.roundTrips.filter((r) => r.operation !== 'getMany' && r.operation !== 'raiseCounter');

    expect(res.status).toBe(status);
    expect(res.errors?.map((e) => e.extensions?.code)).toEqual([code]);
    expect(res.errors![0]!.message).toMatch(message);
    if (noSql) expect(statements).toEqual([]);
    // A duplicate isbn is only found by trying: one refused INSERT/UPDATE, rolled back; never a cascade.
    expect(statements.filter((s) => /^\s*(insert|update|delete)\b/i.test(s)).length).toBeLessThanOrEqual(1);
    expect(writes).toEqual([]);
    expect(added(keysBefore, await server.keys())).toEqual([]);
    expect(await tables()).toEqual(rowsBefore);
    await expectStillServing();
    return res;
  }

  /** Sends a read whose unknown/malformed/foreign id must answer null: no error, no write, nothing cached. */
  async function expectNull(query: string, variables: Record<string, unknown>, expected: Record<string, unknown>): Promise<void> {
    const rowsBefore = await tables();
    const keysBefore = await server.keys();
    server.counters.reset();
    const res = await server.gql(query, variables);
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual(expected);
    // A miss takes a fill lease (herd control) and gives it back when the row turns out not to
    // exist: round trips happen, but nothing is invalidated and no key is left behind.
    expect(server.counters.roundTrips.filter((r) => !['getMany', 'acquire', 'setMany'].includes(r.operation))).toEqual([]);
    expect(added(keysBefore, await server.keys())).toEqual([]);
    expect(await tables()).toEqual(rowsBefore);
  }

  async function postRaw(body: string | undefined): Promise<GraphQLResponse> {
    const res = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    return { status: res.status, headers: res.headers, ...((await res.json()) as object) };
  }

  beforeAll(async () => {
    server = await startTestServer(driver, `bad-input-${driver}`);
    await insertFixture(server.app.orm, { authors: 3, booksPerAuthor: 2, reviewsPerBook: 2 });
    const data = await gql(`{ authors(first: 10) { edges { node { id name books(first: 10) { edges { node { id isbn
      reviews(first: 1) { edges { node { id } } } } } } } } } }`);
    const authors = new Map<string, any>(data.authors.edges.map((e: any) => [e.node.name, e.node]));
    const bookOf = (name: string, isbn: string) => authors.get(name).books.edges.find((e: any) => e.node.isbn === isbn).node;
    ids = {
      author1: authors.get('Author 1').id,
      author2: authors.get('Author 2').id,
      book11: bookOf('Author 1', 'isbn-1-1').id,
      book12: bookOf('Author 1', 'isbn-1-2').id,
      book21: bookOf('Author 2', 'isbn-2-1').id,
      review: bookOf('Author 1', 'isbn-1-1').reviews.edges[0].node.id,
    };
  });
  afterAll(() => server.close());

  describe('malformed requests', () => {
    it('refuses a query with a syntax error with GRAPHQL_PARSE_FAILED', async () => {
      await expectRejected({
        send: () => server.gql('{ books(first: 3) { totalCount '),
        code: 'GRAPHQL_PARSE_FAILED', message: /Syntax Error/, status: 400, noSql: true,
      });
    });

    it('refuses a query for an unknown field with GRAPHQL_VALIDATION_FAILED', async () => {
      await expectRejected({
        send: () => server.gql('{ books { edges { node { title price } } } }'),
        code: 'GRAPHQL_VALIDATION_FAILED', message: /Cannot query field "price" on type "Book"/, status: 400, noSql: true,
      });
    });

    it('refuses a body that is not JSON with HTTP 400 and a JSON error', async () => {
      await expectRejected({ send: () => postRaw('{"query": "{ books { totalCount } }"'), code: 'BAD_REQUEST', message: /not valid JSON/, status: 400, noSql: true });
    });

    it('refuses an empty body with HTTP 400 and a JSON error', async () => {
      await expectRejected({ send: () => postRaw(''), code: 'BAD_REQUEST', message: /empty/, status: 400, noSql: true });
    });

    it('refuses variables of the wrong type with Apollo\'s BAD_USER_INPUT', async () => {
      await expectRejected({
        send: () => server.gql('query($first: Int) { books(first: $first) { totalCount } }', { first: 'three' }),
        code: 'BAD_USER_INPUT', message: /Variable "\$first" got invalid value "three"/, status: 400, noSql: true,
      });
    });
  });

  describe('connection arguments', () => {
    // Every `first` in the operation is checked once variables are known, before any resolver:
    // no part of the query runs (nor caches), and the answer is a 400 with no data.
    it.each([-1, 101])('refuses books(first: %i) with BAD_USER_INPUT', async (first) => {
      const res = await expectRejected({
        send: () => server.gql('query($first: Int) { books(first: $first) { totalCount } }', { first }),
        code: 'BAD_USER_INPUT', message: new RegExp(`"first" must be between 0 and 100, got ${first}`), status: 400, noSql: true,
      });
      expect(res.data).toBeUndefined();
    });

    it.each([-1, 101])('refuses authors(first: %i) with BAD_USER_INPUT', async (first) => {
      await expectRejected({
        send: () => server.gql(`{ authors(first: ${first}) { totalCount } }`),
        code: 'BAD_USER_INPUT', message: /"first" must be between 0 and 100/, status: 400, noSql: true,
      });
    });

    it.each([-1, 101])('refuses Author.books(first: %i) without reading the author', async (first) => {
      const res = await expectRejected({
        send: () => server.gql('query($id: ID!, $first: Int) { author(id: $id) { name books(first: $first) { totalCount } } }', { id: ids.author1, first }),
        code: 'BAD_USER_INPUT', message: /"first" must be between 0 and 100/, status: 400, noSql: true,
      });
      expect(res.data).toBeUndefined();
    });

    it.each([-1, 101])('refuses Book.reviews(first: %i) inside a list without reading the list', async (first) => {
      const res = await expectRejected({
        send: () => server.gql('query($first: Int) { books(first: 2) { edges { node { title reviews(first: $first) { totalCount } } } } }', { first }),
        code: 'BAD_USER_INPUT', message: /"first" must be between 0 and 100/, status: 400, noSql: true,
      });
      expect(res.data).toBeUndefined();
    });

    it.each([
      ['garbage', 'not a cursor!'],
      ['base64 of something that is not a cursor', Buffer.from('hello').toString('base64url')],
      ['empty', ''],
    ])('refuses a %s cursor with BAD_USER_INPUT', async (_, cursor) => {
      await expectRejected({
        send: () => server.gql('query($after: String) { books(first: 2, after: $after) { totalCount } }', { after: cursor }),
        code: 'BAD_USER_INPUT', message: /"after" is not a valid cursor for this list/, noSql: true,
      });
    });

    it('refuses a cursor from another ordering, another direction or another list with BAD_USER_INPUT', async () => {
      const byTitle = (await gql('{ books(first: 1, orderBy: { field: TITLE, direction: ASC }) { pageInfo { endCursor } } }')).books.pageInfo.endCursor;
      const ofAuthors = (await gql('{ authors(first: 1) { pageInfo { endCursor } } }')).authors.pageInfo.endCursor;
      const ofReviews = (await gql('query($id: ID!) { book(id: $id) { reviews(first: 1) { pageInfo { endCursor } } } }', { id: ids.book11 }))
        .book.reviews.pageInfo.endCursor;
      for (const [query, after] of [
        ['query($after: String) { books(first: 2, after: $after) { totalCount } }', byTitle],
        ['query($after: String) { books(first: 2, after: $after, orderBy: { field: TITLE, direction: DESC }) { totalCount } }', byTitle],
        ['query($after: String) { books(first: 2, after: $after, orderBy: { field: PRICE, direction: ASC }) { totalCount } }', byTitle],
        ['query($after: String) { books(first: 2, after: $after) { totalCount } }', ofAuthors],
        ['query($after: String) { authors(first: 2, after: $after) { totalCount } }', ofReviews],
      ] as const) {
        await expectRejected({
          send: () => server.gql(query, { after }),
          code: 'BAD_USER_INPUT', message: /"after" is not a valid cursor for this list/, noSql: true,
        });
      }
    });

    it('refuses a bad cursor on nested connections with BAD_USER_INPUT', async () => {
      await gql('query($a: ID!, $b: ID!) { author(id: $a) { name } book(id: $b) { title } }', { a: ids.author1, b: ids.book11 });
      await expectRejected({
        send: () => server.gql('query($id: ID!) { author(id: $id) { books(after: "nope") { totalCount } } }', { id: ids.author1 }),
        code: 'BAD_USER_INPUT', message: /"after" is not a valid cursor/, noSql: true,
      });
      await expectRejected({
        send: () => server.gql('query($id: ID!) { book(id: $id) { reviews(after: "nope") { totalCount } } }', { id: ids.book11 }),
        code: 'BAD_USER_INPUT', message: /"after" is not a valid cursor/, noSql: true,
      });
    });

    // Not a client's doing, but the server must not pass a value of the wrong type to the database.
    it('refuses a tampered cursor whose sort value does not fit its order with BAD_USER_INPUT', async () => {
      const page = (order: string) => gql(`{ books(first: 1, orderBy: ${order}) { pageInfo { endCursor } } }`);
      const byPrice = (await page('{ field: PRICE, direction: ASC }')).books.pageInfo.endCursor;
      const byTitle = (await page('{ field: TITLE, direction: ASC }')).books.pageInfo.endCursor;
      const byId = (await gql('{ books(first: 1) { pageInfo { endCursor } } }')).books.pageInfo.endCursor;
      for (const [order, cursor] of [
        ['{ field: PRICE, direction: ASC }', reencodeCursor(byPrice, ([o, , id]) => [o, 'abc', id])],
        ['{ field: PRICE, direction: ASC }', reencodeCursor(byPrice, ([o, , id]) => [o, 1e300, id])],
        ['{ field: PRICE, direction: ASC }', reencodeCursor(byPrice, ([o, , id]) => [o, null, id])],
        ['{ field: TITLE, direction: ASC }', reencodeCursor(byTitle, ([o, , id]) => [o, 'a\u0000b', id])],
        ['{ field: TITLE, direction: ASC }', reencodeCursor(byTitle, ([o, , id]) => [o, 12, id])],
        ['{ field: ID, direction: DESC }', reencodeCursor(byId, ([o, v]) => [o, v, 2 ** 40])],
        ['{ field: ID, direction: DESC }', reencodeCursor(byId, ([o, , id]) => [o, 'x', id])],
      ] as const) {
        await expectRejected({
          send: () => server.gql(`query($after: String) { books(first: 2, after: $after, orderBy: ${order}) { totalCount } }`, { after: cursor }),
          code: 'BAD_USER_INPUT', message: /"after" is not a valid cursor for this list/, noSql: true,
        });
      }
    });

    it.each([
      ['malformed', () => MALFORMED_ID],
      ['a book\'s', () => ids.book11],
    ])('refuses books(authorId:) with a %s id with BAD_USER_INPUT', async (_, id) => {
      await expectRejected({
        send: () => server.gql('query($a: ID) { books(authorId: $a) { totalCount } }', { a: id() }),
        code: 'BAD_USER_INPUT', message: /"authorId" is not an author id/, noSql: true,
      });
    });
  });

  describe('ids that name nothing', () => {
    it('answers book, author and node with unknown, malformed or foreign ids with null and no error', async () => {
      const query = 'query($id: ID!) { book(id: $id) { title } author(id: $id) { name } node(id: $id) { id } }';
      for (const id of [unknownId('Book'), unknownId('Author'), unknownId('Review'), MALFORMED_ID, '', Buffer.from('Shelf:1').toString('base64url')]) {
        await expectNull(query, { id }, { book: null, author: null, node: null });
      }
      await expectNull('query($id: ID!) { book(id: $id) { title } }', { id: ids.author1 }, { book: null });
      await expectNull('query($id: ID!) { author(id: $id) { name } }', { id: ids.book11 }, { author: null });
    });

    // PostgreSQL's serial ids are 32-bit: a larger number names nothing, it is not a database error.
    it('answers ids beyond 32 bits with null, and mutations on them with NOT_FOUND', async () => {
      const query = 'query($b: ID!, $a: ID!, $r: ID!) { book(id: $b) { title } author(id: $a) { name } node(id: $r) { id } }';
      await expectNull(query, { b: unknownId('Book', 2 ** 31), a: unknownId('Author', 2 ** 40), r: unknownId('Review', 2 ** 53 - 1) },
        { book: null, author: null, node: null });
      await expectRejected({
        send: () => server.gql('mutation($id: ID!) { deleteBook(id: $id) }', { id: unknownId('Book', 2 ** 31) }),
        code: 'NOT_FOUND', message: /No book with id/,
      });
    });
  });

  describe('mutations', () => {
    const CREATE_BOOK = 'mutation($input: CreateBookInput!) { createBook(input: $input) { id } }';
    const UPDATE_BOOK = 'mutation($id: ID!, $input: UpdateBookInput!) { updateBook(id: $id, input: $input) { id } }';
    const ADD_REVIEW = 'mutation($input: AddReviewInput!) { addReview(input: $input) { id } }';
    const newBook = (changes: Record<string, unknown> = {}) => ({
      title: 'A new book', isbn: 'isbn-new', priceCents: 1200, publishedYear: 2020, authorId: ids.author1, ...changes,
    });

    it.each([0, 6])('refuses addReview with rating %i with BAD_USER_INPUT', async (rating) => {
      await expectRejected({
        send: () => server.gql(ADD_REVIEW, { input: { bookId: ids.book11, rating, body: 'Nope' } }),
        code: 'BAD_USER_INPUT', message: new RegExp(`"rating" must be an integer from 1 to 5, got ${rating}`), noSql: true,
      });
    });

    it('refuses addReview for an unknown book with NOT_FOUND', async () => {
      await expectRejected({
        send: () => server.gql(ADD_REVIEW, { input: { bookId: unknownId('Book'), rating: 3 } }),
        code: 'NOT_FOUND', message: /No book with id/,
      });
    });

    it('refuses createBook with an isbn that exists with CONFLICT', async () => {
      for (const isbn of ['isbn-2-1', '  isbn-2-1  ']) {
        await expectRejected({
          send: () => server.gql(CREATE_BOOK, { input: newBook({ isbn }) }),
          code: 'CONFLICT', message: /A book with isbn "isbn-2-1" already exists/,
        });
      }
    });

    it('refuses updateBook to another book\'s isbn with CONFLICT', async () => {
      await expectRejected({
        send: () => server.gql(UPDATE_BOOK, { id: ids.book11, input: { isbn: 'isbn-2-1', title: 'Renamed too' } }),
        code: 'CONFLICT', message: /A book with isbn "isbn-2-1" already exists/,
      });
    });

    it.each([
      ['an unknown', () => unknownId('Author'), false],
      ['a malformed', () => MALFORMED_ID, true],
      ['a book\'s', () => ids.book11, true],
    ])('refuses createBook for %s author id with NOT_FOUND', async (_, authorId, noSql) => {
      await expectRejected({
        send: () => server.gql(CREATE_BOOK, { input: newBook({ authorId: authorId() }) }),
        code: 'NOT_FOUND', message: /No author with/, noSql,
      });
    });

    it('refuses updateBook moving a book to an unknown author with NOT_FOUND', async () => {
      await expectRejected({
        send: () => server.gql(UPDATE_BOOK, { id: ids.book11, input: { authorId: unknownId('Author'), title: 'Moved' } }),
        code: 'NOT_FOUND', message: /No author with/,
      });
    });

    it.each([
      ['updateBook', 'Book', 'mutation($id: ID!) { updateBook(id: $id, input: { title: "X" }) { id } }', () => ids.author1],
      ['deleteBook', 'Book', 'mutation($id: ID!) { deleteBook(id: $id) }', () => ids.review],
      ['updateAuthor', 'Author', 'mutation($id: ID!) { updateAuthor(id: $id, input: { name: "X" }) { id } }', () => ids.book11],
      ['deleteAuthor', 'Author', 'mutation($id: ID!) { deleteAuthor(id: $id) }', () => ids.book11],
      ['deleteReview', 'Review', 'mutation($id: ID!) { deleteReview(id: $id) }', () => ids.book11],
    ] as const)('refuses %s on an unknown, malformed or foreign id with NOT_FOUND', async (_, type, mutation, foreignId) => {
      for (const [id, noSql] of [[unknownId(type), false], [MALFORMED_ID, true], [foreignId(), true]] as const) {
        await expectRejected({ send: () => server.gql(mutation, { id }), code: 'NOT_FOUND', message: new RegExp(`No ${type.toLowerCase()} with id`), noSql });
      }
    });

    it.each([
      ['an empty title', { title: '' }, /"title" must not be empty/],
      ['a blank title', { title: '   ' }, /"title" must not be empty/],
      ['a title longer than the column', { title: 'x'.repeat(300) }, /"title" must be at most 255 characters, got 300/],
      ['a title with a NUL character', { title: 'a\u0000b' }, /"title" must not contain NUL characters/],
      ['an empty isbn', { isbn: '' }, /"isbn" must not be empty/],
      ['a negative price', { priceCents: -1 }, /"priceCents" must be an integer from 0 to 1000000000, got -1/],
      ['a year out of range', { publishedYear: 100_000 }, /"publishedYear" must be an integer from -9999 to 9999, got 100000/],
    ])('refuses createBook with %s with BAD_USER_INPUT', async (_, changes, message) => {
      await expectRejected({ send: () => server.gql(CREATE_BOOK, { input: newBook(changes) }), code: 'BAD_USER_INPUT', message, noSql: true });
    });

    it.each([
      ['an empty title', { title: '' }, /"title" must not be empty/],
      ['a title longer than the column', { title: 'x'.repeat(300) }, /"title" must be at most 255 characters/],
      ['a negative price', { priceCents: -5 }, /"priceCents" must be an integer from 0 to 1000000000, got -5/],
    ])('refuses updateBook with %s with BAD_USER_INPUT', async (_, changes, message) => {
      await expectRejected({ send: () => server.gql(UPDATE_BOOK, { id: ids.book12, input: changes }), code: 'BAD_USER_INPUT', message, noSql: true });
    });

    it('refuses createAuthor and updateAuthor with an empty name with BAD_USER_INPUT', async () => {
      await expectRejected({
        send: () => server.gql('mutation { createAuthor(input: { name: " " }) { id } }'),
        code: 'BAD_USER_INPUT', message: /"name" must not be empty/, noSql: true,
      });
      await expectRejected({
        send: () => server.gql('mutation($id: ID!) { updateAuthor(id: $id, input: { name: "" }) { id } }', { id: ids.author2 }),
        code: 'BAD_USER_INPUT', message: /"name" must not be empty/, noSql: true,
      });
    });

    it('still accepts a valid write after all of the above', async () => {
      const created = await gql(CREATE_BOOK, { input: newBook() });
      expect(created.createBook.id).toEqual(expect.any(String));
      const { book } = await gql('query($id: ID!) { book(id: $id) { title isbn author { name } } }', { id: created.createBook.id });
      expect(book).toEqual({ title: 'A new book', isbn: 'isbn-new', author: { name: 'Author 1' } });
      await gql('mutation($id: ID!) { deleteBook(id: $id) }', { id: created.createBook.id });
      expect(await sql('SELECT id FROM book')).toHaveLength(6);
    });
  });
});
