import type { SqlEntityManager } from '@mikro-orm/sql';
import { Author, Book, type IAuthor } from '../entities/index.ts';

/** One line of an import file: a book, upserted by isbn; its author is found or created by name. */
export interface ImportedBook {
  readonly isbn: string;
  readonly title: string;
  readonly priceCents: number;
  readonly publishedYear?: number | null;
  readonly author: string;
}

export interface ImportResult {
  readonly created: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly authorsCreated: number;
}

/** Checks an import file's content, naming the first bad entry and field. */
export function parseImportFile(json: unknown): ImportedBook[] {
  const books = (json as { books?: unknown } | null)?.books;
  if (!Array.isArray(books)) throw new TypeError('import file must be a JSON object {"books": [...]}');
  return books.map((raw, i) => {
    const b = raw as Record<string, unknown>;
    const fail = (field: string, want: string) => {
      throw new TypeError(`books[${i}].${field} must be ${want}, got ${JSON.stringify(b?.[field])}`);
    };
    if (typeof b !== 'object' || b === null) throw new TypeError(`books[${i}] must be an object`);
    if (typeof b.isbn !== 'string' || !b.isbn.trim()) fail('isbn', 'a non-empty string');
    // The same bounds as the mutations' (title fits varchar(255); no NUL, which neither database takes).
    if (typeof b.title !== 'string' || !b.title.trim() || b.title.trim().length > 255 || b.title.includes('\u0000')) {
      fail('title', 'a non-empty string of at most 255 characters');
    }
    if (!Number.isInteger(b.priceCents) || (b.priceCents as number) < 0) fail('priceCents', 'a non-negative integer');
    if (b.publishedYear != null && !Number.isInteger(b.publishedYear)) fail('publishedYear', 'an integer or null');
    if (typeof b.author !== 'string' || !b.author.trim()) fail('author', "the author's name");
    return {
      isbn: (b.isbn as string).trim(),
      title: (b.title as string).trim(),
      priceCents: b.priceCents as number,
      publishedYear: (b.publishedYear as number | null | undefined) ?? null,
      author: (b.author as string).trim(),
    };
  });
}

/**
 * Upserts books through the unit of work, in one transaction: an ordinary ORM job, with no cache
 * code of its own. The invalidation subscriber registered on the ORM sees its change sets and
 * evicts what they changed once the transaction has committed.
 */
export async function importBooks(em: SqlEntityManager, books: readonly ImportedBook[]): Promise<ImportResult> {
  return em.transactional(async (tx) => {
    const names = [...new Set(books.map((b) => b.author))];
    const authors = new Map<string, IAuthor>((await tx.find(Author, { name: { $in: names } })).map((a) => [a.name, a]));
    const existing = new Map((await tx.find(Book, { isbn: { $in: books.map((b) => b.isbn) } })).map((b) => [b.isbn, b]));
    let created = 0, updated = 0, unchanged = 0, authorsCreated = 0;

    for (const { author: name, ...fields } of books) {
      let author = authors.get(name);
      if (!author) {
        author = tx.create(Author, { name, bio: null });
        authors.set(name, author);
        authorsCreated++;
      }
      const book = existing.get(fields.isbn);
      if (!book) {
        existing.set(fields.isbn, tx.create(Book, { ...fields, author }));
        created++;
      } else if (book.title !== fields.title || book.priceCents !== fields.priceCents
        || (book.publishedYear ?? null) !== fields.publishedYear || book.author !== author) {
        tx.assign(book, { ...fields, author });
        updated++;
      } else {
        unchanged++;
      }
    }
    await tx.flush();
    return { created, updated, unchanged, authorsCreated };
  });
}
