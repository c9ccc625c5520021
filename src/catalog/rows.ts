/**
 * The cached representation of each entity: plain JSON-safe rows. Resolvers receive these (the
 * codegen mappers point here), whether they came from Redis or from the database.
 */
export interface AuthorRow {
  readonly id: number;
  readonly name: string;
  readonly bio: string | null;
}

export interface BookRow {
  readonly id: number;
  readonly title: string;
  readonly isbn: string;
  readonly priceCents: number;
  readonly publishedYear: number | null;
  readonly authorId: number;
}

export interface ReviewRow {
  readonly id: number;
  readonly rating: number;
  readonly body: string | null;
  readonly bookId: number;
  /** ISO 8601, UTC. */
  readonly createdAt: string;
}

/**
 * A viewer's account as resolvers see it: PRIVATE, so it is cached only under its own key, which
 * only a request authenticated as that account computes (the password hash is never read).
 */
export interface AccountRow {
  readonly id: number;
  readonly email: string;
}

/** A book's review aggregate, cached apart from the book so that a review never evicts the book. */
export interface BookStats {
  readonly count: number;
  readonly ratingSum: number;
}

/** Raw database rows (snake_case columns) as returned by plain SQL on either driver. */
export type SqlRow = Record<string, unknown>;

export function accountFromSql(r: SqlRow): AccountRow {
  return { id: Number(r.id), email: String(r.email) };
}

export function authorFromSql(r: SqlRow): AuthorRow {
  return { id: Number(r.id), name: String(r.name), bio: nullableString(r.bio) };
}

export function bookFromSql(r: SqlRow): BookRow {
  return {
    id: Number(r.id),
    title: String(r.title),
    isbn: String(r.isbn),
    priceCents: Number(r.price_cents),
    publishedYear: r.published_year === null || r.published_year === undefined ? null : Number(r.published_year),
    authorId: Number(r.author_id),
  };
}

export function reviewFromSql(r: SqlRow): ReviewRow {
  return {
    id: Number(r.id),
    rating: Number(r.rating),
    body: nullableString(r.body),
    bookId: Number(r.book_id),
    createdAt: toIsoString(r.created_at),
  };
}

function nullableString(value: unknown): string | null {
  return value === null || value === undefined ? null : String(value);
}

/**
 * Timestamps arrive as Date objects, epoch milliseconds (SQLite through the ORM) or text
 * ('2026-11-25 17:32:56.716728+00' from PostgreSQL, '2026-11-25 17:32:56' from SQLite's clock).
 */
export function toIsoString(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'number') return new Date(value).toISOString();
  let text = String(value).trim().replace(' ', 'T');
  if (/[+-]\d\d$/.test(text)) text += ':00';
  else if (!/(Z|[+-]\d\d:?\d\d)$/.test(text)) text += 'Z';
  const parsed = new Date(text);
  if (Number.isNaN(parsed.getTime())) throw new TypeError(`toIsoString: not a timestamp: ${JSON.stringify(value)}`);
  return parsed.toISOString();
}
