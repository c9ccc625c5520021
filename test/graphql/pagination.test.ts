import { insertFixture } from '../support/fixtures.ts';
import { testDrivers } from '../support/database.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

type Field = 'ID' | 'TITLE' | 'PRICE' | 'PUBLISHED_YEAR';
type Direction = 'ASC' | 'DESC';

/** A book as the database holds it, read with plain SQL: the test's own source of truth. */
interface BookTruth {
  id: number;
  title: string;
  isbn: string;
  priceCents: number;
  publishedYear: number | null;
  authorId: number;
}

interface PageOf<N> {
  totalCount: number;
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
  edges: { cursor: string; node: N }[];
}

const CONNECTION = 'totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { __NODE__ } }';
const conn = (node: string) => CONNECTION.replace('__NODE__', node);

const BOOKS = `query Books($first: Int, $after: String, $orderBy: BookOrder, $authorId: ID) {
  books(first: $first, after: $after, orderBy: $orderBy, authorId: $authorId) { ${conn('isbn')} } }`;
const AUTHOR_BOOKS = `query AuthorBooks($id: ID!, $first: Int, $after: String) {
  author(id: $id) { books(first: $first, after: $after) { ${conn('isbn')} } } }`;
const BOOK_REVIEWS = `query BookReviews($id: ID!, $first: Int, $after: String) {
  book(id: $id) { reviews(first: $first, after: $after) { ${conn('body')} } } }`;
const AUTHORS = `query Authors($first: Int, $after: String) { authors(first: $first, after: $after) { ${conn('name')} } }`;

const ORDERS: [Field, Direction][] = (['ID', 'TITLE', 'PRICE', 'PUBLISHED_YEAR'] as const).flatMap((f) => [
  [f, 'ASC'],
  [f, 'DESC'],
] as [Field, Direction][]);

const compare = (a: number | string, b: number | string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The order the server promises, computed here independently: by the field, then by id, both in
 * the requested direction. A missing published year sorts as the smallest value (book-order.ts
 * maps it to the smallest INT on both databases). Titles compare by code unit, which is the
 * byte order of the test databases (SQLite BINARY, PostgreSQL C.UTF-8) for these titles.
 */
function sortBooks(books: readonly BookTruth[], field: Field, direction: Direction): BookTruth[] {
  const key = (b: BookTruth): number | string =>
    field === 'ID' ? b.id : field === 'TITLE' ? b.title : field === 'PRICE' ? b.priceCents : (b.publishedYear ?? -Infinity);
  const sign = direction === 'ASC' ? 1 : -1;
  return [...books].sort((a, b) => sign * (compare(key(a), key(b)) || compare(a.id, b.id)));
}

describe.each(testDrivers())('pagination on %s', (driver) => {
  let server: TestServer;
  let books: BookTruth[];
  let authorIdByName: Map<string, string>; // global ids, as the API hands them out
  let bookIdByIsbn: Map<string, string>;

  const sql = <T = Record<string, unknown>>(statement: string, params: unknown[] = []) =>
    server.app.orm.em.fork().execute<T[]>(statement, params);

  async function ok<T>(query: string, variables?: Record<string, unknown>): Promise<T> {
    const res = await server.gql<T>(query, variables);
    expect(res.errors).toBeUndefined();
    return res.data!;
  }

  /** Forgets everything this server cached, so that the next walk is cold. */
  async function clearCache(): Promise<void> {
    const keys = await server.keys();
    if (keys.length > 0) await server.redis.del(...keys);
  }

  /**
   * Follows `endCursor` with first=3 until hasNextPage is false, checking every page's totalCount,
   * page info and cursors on the way; answers the nodes in the order they were served.
   */
  async function walk<N>(fetchPage: (after: string | null) => Promise<PageOf<N>>, total: number): Promise<{ nodes: N[]; pages: number }> {
    const nodes: N[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const page = await fetchPage(after);
      pages++;
      expect(page.totalCount).toBe(total);
      expect(page.pageInfo.hasPreviousPage).toBe(after !== null);
      expect(page.pageInfo.startCursor).toBe(page.edges[0]?.cursor ?? null);
      expect(page.pageInfo.endCursor).toBe(page.edges.at(-1)?.cursor ?? null);
      expect(new Set(page.edges.map((e) => e.cursor)).size).toBe(page.edges.length);
      nodes.push(...page.edges.map((e) => e.node));
      if (!page.pageInfo.hasNextPage) break;
      expect(page.edges).toHaveLength(3); // a page with more after it is full
      after = page.pageInfo.endCursor;
      if (pages > 40) throw new Error('pagination does not end');
    }
    expect(pages).toBe(Math.max(1, Math.ceil(total / 3)));
    return { nodes, pages };
  }

  const walkBooks = (variables: Record<string, unknown>, total: number) =>
    walk<{ isbn: string }>(async (after) => (await ok<{ books: PageOf<{ isbn: string }> }>(BOOKS, { ...variables, first: 3, after })).books, total);

  function expectKeysetOnly(): void {
    expect(server.counters.statements().join('\n')).not.toMatch(/\boffset\b/i);
  }

  beforeAll(async () => {
    server = await startTestServer(driver, `pagination-${driver}`);
    await insertFixture(server.app.orm, { authors: 5, booksPerAuthor: 4, reviewsPerBook: 4 });
    // Ties on every sort field, a non-ASCII title, and an author without books (plain SQL, like the fixture).
    await sql('INSERT INTO author (name, bio) VALUES (?, ?)', ['Author of ties', null]);
    await sql('INSERT INTO author (name, bio) VALUES (?, ?)', ['Author without books', null]);
    const [tiesAuthor] = await sql<{ id: unknown }>('SELECT id FROM author WHERE name = ?', ['Author of ties']);
    for (const [title, isbn, price, year] of [
      ['Tie', 'isbn-tie-1', 1500, 2001],
      ['Tie', 'isbn-tie-2', 1500, null],
      ['Tie', 'isbn-tie-3', 999, 2001],
      ['Émile', 'isbn-tie-4', 1500, 2001],
      ['Zed', 'isbn-tie-5', 0, null],
    ] as const) {
      await sql('INSERT INTO book (title, isbn, price_cents, published_year, author_id) VALUES (?, ?, ?, ?, ?)', [
        title, isbn, price, year, Number(tiesAuthor!.id),
      ]);
    }
    books = (await sql('SELECT id, title, isbn, price_cents, published_year, author_id FROM book')).map((r) => ({
      id: Number(r.id),
      title: String(r.title),
      isbn: String(r.isbn),
      priceCents: Number(r.price_cents),
      publishedYear: r.published_year === null ? null : Number(r.published_year),
      authorId: Number(r.author_id),
    }));
    expect(books).toHaveLength(25);

    const ids = await ok<any>(`{ authors(first: 100) { edges { node { id name } } } books(first: 100) { edges { node { id isbn } } } }`);
    authorIdByName = new Map(ids.authors.edges.map((e: any) => [e.node.name, e.node.id]));
    bookIdByIsbn = new Map(ids.books.edges.map((e: any) => [e.node.isbn, e.node.id]));
  });
  afterAll(() => server.close());
  beforeEach(() => server.counters.reset());

  describe('books', () => {
    it('walks the default order, id descending, three at a time with one SQL statement per page', async () => {
      await clearCache();
      const { nodes, pages } = await walkBooks({}, 25);
      expect(nodes.map((n) => n.isbn)).toEqual(sortBooks(books, 'ID', 'DESC').map((b) => b.isbn));
      expect(pages).toBe(9);
      expect(server.counters.statements()).toHaveLength(9); // each page's rows fill the book loader too
      expectKeysetOnly();
    });

    it.each(ORDERS)('walks orderBy %s %s to the end and matches the list sorted by the test, id breaking ties', async (field, direction) => {
      await clearCache();
      const cold = await walkBooks({ orderBy: { field, direction } }, 25);
      expect(cold.nodes.map((n) => n.isbn)).toEqual(sortBooks(books, field, direction).map((b) => b.isbn));
      expect(server.counters.statementsOn('book')).toHaveLength(9);
      expectKeysetOnly();

      // The same walk again is served from the cached pages: same answer, no SQL at all.
      server.counters.reset();
      const warm = await walkBooks({ orderBy: { field, direction } }, 25);
      expect(warm.nodes).toEqual(cold.nodes);
      expect(server.counters.statements()).toEqual([]);
    });

    it('serves the default order and an explicit ID DESC with interchangeable cursors', async () => {
      const byDefault = await ok<{ books: PageOf<{ isbn: string }> }>(BOOKS, { first: 3 });
      const explicit = await ok<{ books: PageOf<{ isbn: string }> }>(BOOKS, { first: 3, orderBy: { field: 'ID', direction: 'DESC' } });
      expect(explicit.books).toEqual(byDefault.books);
      const next = await ok<{ books: PageOf<{ isbn: string }> }>(BOOKS, {
        first: 3, after: byDefault.books.pageInfo.endCursor, orderBy: { field: 'ID', direction: 'DESC' },
      });
      expect(next.books.edges.map((e) => e.node.isbn)).toEqual(sortBooks(books, 'ID', 'DESC').slice(3, 6).map((b) => b.isbn));
    });

    it.each(ORDERS)('walks one author\'s books filtered by authorId in orderBy %s %s', async (field, direction) => {
      const authorDbId = books.find((b) => b.isbn === 'isbn-tie-1')!.authorId;
      const mine = books.filter((b) => b.authorId === authorDbId);
      expect(mine).toHaveLength(5);
      await clearCache();
      const { nodes } = await walkBooks({ authorId: authorIdByName.get('Author of ties'), orderBy: { field, direction } }, 5);
      expect(nodes.map((n) => n.isbn)).toEqual(sortBooks(mine, field, direction).map((b) => b.isbn));
      expect(server.counters.statementsOn('book')).toHaveLength(2);
      expectKeysetOnly();
    });

    it('filters by an author who has no books to an empty, final page', async () => {
      const { books: page } = await ok<{ books: PageOf<unknown> }>(BOOKS, { first: 3, authorId: authorIdByName.get('Author without books') });
      expect(page).toEqual({
        totalCount: 0,
        pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null },
        edges: [],
      });
    });

    it('answers first: 0 with no edges, the right totalCount and hasNextPage true', async () => {
      await clearCache();
      const { books: page } = await ok<{ books: PageOf<unknown> }>(BOOKS, { first: 0 });
      expect(page).toEqual({
        totalCount: 25,
        pageInfo: { hasNextPage: true, hasPreviousPage: false, startCursor: null, endCursor: null },
        edges: [],
      });
      const { books: filtered } = await ok<{ books: PageOf<unknown> }>(BOOKS, {
        first: 0, authorId: authorIdByName.get('Author of ties'), orderBy: { field: 'PRICE', direction: 'ASC' },
      });
      expect(filtered.totalCount).toBe(5);
      expect(filtered.edges).toEqual([]);
      expect(filtered.pageInfo.hasNextPage).toBe(true);
      expectKeysetOnly();
    });

    it('answers first: 100 with every book on one page', async () => {
      const { books: page } = await ok<{ books: PageOf<{ isbn: string }> }>(BOOKS, { first: 100, orderBy: { field: 'TITLE', direction: 'ASC' } });
      expect(page.totalCount).toBe(25);
      expect(page.edges.map((e) => e.node.isbn)).toEqual(sortBooks(books, 'TITLE', 'ASC').map((b) => b.isbn));
      expect(page.pageInfo).toEqual({
        hasNextPage: false, hasPreviousPage: false, startCursor: page.edges[0]!.cursor, endCursor: page.edges[24]!.cursor,
      });
    });

    it('answers an empty last page after the final cursor, still counting every book', async () => {
      const all = await ok<{ books: PageOf<unknown> }>(BOOKS, { first: 100, orderBy: { field: 'PUBLISHED_YEAR', direction: 'DESC' } });
      await clearCache();
      server.counters.reset();
      for (const first of [3, 0]) {
        const { books: page } = await ok<{ books: PageOf<unknown> }>(BOOKS, {
          first, after: all.books.pageInfo.endCursor, orderBy: { field: 'PUBLISHED_YEAR', direction: 'DESC' },
        });
        expect(page).toEqual({
          totalCount: 25,
          pageInfo: { hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null },
          edges: [],
        });
      }
      // The page query finds no row to carry the count, so one COUNT(*) follows it; the second page,
      // under the same list generation, reuses that total (one statement, no COUNT).
      expect(server.counters.statements()).toHaveLength(3);
      expect(server.counters.statements().filter((sql) => /count\(\*\)/i.test(sql))).toHaveLength(2);
      expectKeysetOnly();
    });
  });

  describe('nested connections and the authors list', () => {
    it('walks Author.books newest first', async () => {
      for (const name of ['Author 1', 'Author of ties']) {
        const authorDbId = books.find((b) => b.isbn === (name === 'Author 1' ? 'isbn-1-1' : 'isbn-tie-1'))!.authorId;
        const mine = books.filter((b) => b.authorId === authorDbId);
        const { nodes } = await walk<{ isbn: string }>(async (after) =>
          (await ok<any>(AUTHOR_BOOKS, { id: authorIdByName.get(name), first: 3, after })).author.books, mine.length);
        expect(nodes.map((n) => n.isbn)).toEqual(sortBooks(mine, 'ID', 'DESC').map((b) => b.isbn));
      }
      expectKeysetOnly();
    });

    it('answers Author.books of an author without books, and with first: 0, with the right totalCount', async () => {
      const empty = await ok<any>(AUTHOR_BOOKS, { id: authorIdByName.get('Author without books'), first: 3 });
      expect(empty.author.books).toEqual({
        totalCount: 0, edges: [], pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null },
      });
      const none = await ok<any>(AUTHOR_BOOKS, { id: authorIdByName.get('Author 2'), first: 0 });
      expect(none.author.books).toEqual({
        totalCount: 4, edges: [], pageInfo: { hasNextPage: true, hasPreviousPage: false, startCursor: null, endCursor: null },
      });
    });

    it('walks Book.reviews newest first', async () => {
      const book = books.find((b) => b.isbn === 'isbn-3-2')!;
      const truth = await sql<{ id: unknown; body: unknown }>('SELECT id, body FROM review WHERE book_id = ?', [book.id]);
      const expected = truth.map((r) => ({ id: Number(r.id), body: String(r.body) })).sort((a, b) => b.id - a.id);
      expect(expected).toHaveLength(4);
      const { nodes, pages } = await walk<{ body: string }>(async (after) =>
        (await ok<any>(BOOK_REVIEWS, { id: bookIdByIsbn.get(book.isbn), first: 3, after })).book.reviews, 4);
      expect(pages).toBe(2);
      expect(nodes.map((n) => n.body)).toEqual(expected.map((r) => r.body));
      expectKeysetOnly();
    });

    it('answers Book.reviews of a book without reviews as an empty connection', async () => {
      const res = await ok<any>(BOOK_REVIEWS, { id: bookIdByIsbn.get('isbn-tie-5'), first: 3 });
      expect(res.book.reviews).toEqual({
        totalCount: 0, edges: [], pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null },
      });
    });

    it('keeps each parent\'s own first and after when several nested pages load in one statement', async () => {
      const page1 = await ok<any>(AUTHOR_BOOKS, { id: authorIdByName.get('Author 1'), first: 1 });
      const page2 = await ok<any>(AUTHOR_BOOKS, { id: authorIdByName.get('Author 2'), first: 2 });
      await clearCache();
      server.counters.reset();
      const res = await ok<any>(`query Two($a: ID!, $b: ID!, $ac: String, $bc: String) {
        a: author(id: $a) { books(first: 2, after: $ac) { ${conn('isbn')} } }
        b: author(id: $b) { books(first: 1, after: $bc) { ${conn('isbn')} } } }`, {
        a: authorIdByName.get('Author 1'), ac: page1.author.books.pageInfo.endCursor,
        b: authorIdByName.get('Author 2'), bc: page2.author.books.pageInfo.endCursor,
      });
      expect(res.a.books.edges.map((e: any) => e.node.isbn)).toEqual(['isbn-1-3', 'isbn-1-2']);
      expect(res.a.books.pageInfo.hasNextPage).toBe(true);
      expect(res.b.books.edges.map((e: any) => e.node.isbn)).toEqual(['isbn-2-2']);
      expect(res.b.books.pageInfo.hasNextPage).toBe(true);
      expect([res.a.books.totalCount, res.b.books.totalCount]).toEqual([4, 4]);
      // The two authors in one statement, both pages in one ranked statement.
      expect(server.counters.statementsOn('author')).toHaveLength(1);
      expect(server.counters.statementsOn('book')).toHaveLength(1);
      expectKeysetOnly();
    });

    it('walks the authors list newest first', async () => {
      const truth = await sql<{ id: unknown; name: unknown }>('SELECT id, name FROM author');
      const expected = truth.map((r) => ({ id: Number(r.id), name: String(r.name) })).sort((a, b) => b.id - a.id);
      expect(expected).toHaveLength(7);
      await clearCache();
      server.counters.reset(); // the test's own SELECT above is not the server's
      const { nodes, pages } = await walk<{ name: string }>(async (after) => (await ok<any>(AUTHORS, { first: 3, after })).authors, 7);
      expect(pages).toBe(3);
      expect(nodes.map((n) => n.name)).toEqual(expected.map((a) => a.name));
      expect(server.counters.statementsOn('author')).toHaveLength(3);
      expectKeysetOnly();

      const { authors } = await ok<any>(AUTHORS, { first: 0 });
      expect(authors.totalCount).toBe(7);
      expect(authors.edges).toEqual([]);
    });
  });

  describe('global ids', () => {
    it('resolves book, author and review ids through node(id:) to the right type', async () => {
      const book = books.find((b) => b.isbn === 'isbn-4-3')!;
      const [review] = await sql<{ body: unknown }>('SELECT body FROM review WHERE book_id = ? ORDER BY id DESC', [book.id]);
      const { book: withReview } = await ok<any>(`query($id: ID!) { book(id: $id) { reviews(first: 1) { edges { node { id } } } } }`, {
        id: bookIdByIsbn.get(book.isbn),
      });
      const reviewId = withReview.reviews.edges[0].node.id;

      const res = await ok<any>(`query($b: ID!, $a: ID!, $r: ID!) {
        b: node(id: $b) { __typename id ... on Book { isbn } }
        a: node(id: $a) { __typename id ... on Author { name } }
        r: node(id: $r) { __typename id ... on Review { body } } }`, {
        b: bookIdByIsbn.get(book.isbn), a: authorIdByName.get('Author 4'), r: reviewId,
      });
      expect(res).toEqual({
        b: { __typename: 'Book', id: bookIdByIsbn.get(book.isbn), isbn: 'isbn-4-3' },
        a: { __typename: 'Author', id: authorIdByName.get('Author 4'), name: 'Author 4' },
        r: { __typename: 'Review', id: reviewId, body: String(review!.body) },
      });
    });

    it('answers book(id:) with an author\'s id, and author(id:) with a book\'s id, with null', async () => {
      const res = await server.gql(`query($a: ID!, $b: ID!) { book(id: $a) { title } author(id: $b) { name } }`, {
        a: authorIdByName.get('Author 1'), b: bookIdByIsbn.get('isbn-1-1'),
      });
      expect(res.errors).toBeUndefined();
      expect(res.data).toEqual({ book: null, author: null });
    });

    it('hands out opaque ids that differ between types sharing a database id', async () => {
      const [firstAuthor] = await sql<{ id: unknown; name: unknown }>('SELECT id, name FROM author ORDER BY id LIMIT 1');
      const sameNumberBook = books.find((b) => b.id === Number(firstAuthor!.id))!;
      expect(authorIdByName.get(String(firstAuthor!.name))).not.toBe(bookIdByIsbn.get(sameNumberBook.isbn));

      const all = [...bookIdByIsbn.values(), ...authorIdByName.values()];
      expect(new Set(all).size).toBe(25 + 7);
      for (const book of books) {
        const id = bookIdByIsbn.get(book.isbn)!;
        expect(id).not.toMatch(/^\d+$/);
        // A single digit can occur in any base64 text by chance; a whole multi-digit id must not.
        if (book.id >= 10) expect(id).not.toContain(String(book.id));
      }
    });
  });
});
