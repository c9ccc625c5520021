/**
 * Fills the catalog with deterministic fake data:
 *   npm run seed -- [--authors N] [--books N] [--reviews N] [--seed N] [--reset]
 * Uses DATABASE_URL (default: the project's SQLite file) and applies pending migrations first.
 * Refuses a database that already holds catalog rows unless --reset, which deletes them all and
 * restarts the ids, so the same --seed always yields the same rows and ids.
 * Exit codes: 0 done, 1 failed or database not empty, 2 bad arguments or DATABASE_URL.
 */
import { parseArgs } from 'node:util';
import { parseDatabaseUrl } from '../orm/database-url.ts';
import { assertSeedCounts, type SeedCounts } from '../orm/seed/seed-counts.ts';

const usage = `usage: npm run seed -- [--authors N] [--books N] [--reviews N] [--seed N] [--reset]
  defaults: --authors 1000 --books 20000 --reviews 100000 --seed 42
  --reset   delete all authors, books and reviews first (otherwise the database must be empty)`;

class UsageError extends Error {}

interface SeedArgs {
  counts: SeedCounts;
  seed: number;
  reset: boolean;
  databaseUrl: string | undefined;
}

function parseSeedArgs(argv: string[]): SeedArgs | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        authors: { type: 'string', default: '1000' },
        books: { type: 'string', default: '20000' },
        reviews: { type: 'string', default: '100000' },
        seed: { type: 'string', default: '42' },
        reset: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) {
    return 'help';
  }
  const counts = {
    authors: parseCount('--authors', values.authors),
    books: parseCount('--books', values.books),
    reviews: parseCount('--reviews', values.reviews),
  };
  try {
    assertSeedCounts(counts);
    parseDatabaseUrl(process.env.DATABASE_URL);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  return { counts, seed: parseCount('--seed', values.seed), reset: values.reset, databaseUrl: process.env.DATABASE_URL };
}

function parseCount(flag: string, value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`${flag} must be a non-negative integer, got ${JSON.stringify(value)}.`);
  }
  return Number(value);
}

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseSeedArgs(argv);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`seed: ${error.message}\n${usage}`);
      return 2;
    }
    throw error;
  }
  if (args === 'help') {
    console.log(usage);
    return 0;
  }

  // Loaded only once the arguments are valid, so that a typo is reported instantly.
  const [{ Author, Book, Review }, { openOrm }, { seedCatalog }, { resetCatalog }] = await Promise.all([
    import('../orm/entities/index.ts'),
    import('../orm/open-orm.ts'),
    import('../orm/seed/seed-catalog.ts'),
    import('../orm/seed/reset-catalog.ts'),
  ]);
  const started = performance.now();
  const orm = await openOrm({ databaseUrl: args.databaseUrl });
  try {
    if (args.reset) {
      await resetCatalog(orm);
    } else {
      const em = orm.em.fork();
      const existing = [await em.count(Author), await em.count(Book), await em.count(Review)];
      if (existing.some((n) => n > 0)) {
        console.error(
          `seed: the database already holds ${existing[0]} authors, ${existing[1]} books, ${existing[2]} reviews; ` +
            'pass --reset to delete them first.',
        );
        return 1;
      }
    }
    const { authors, books, reviews } = await seedCatalog(orm, args.counts, args.seed);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    const driver = parseDatabaseUrl(args.databaseUrl).driver;
    console.log(`seeded ${authors} authors, ${books} books, ${reviews} reviews (seed ${args.seed}) into ${driver} in ${seconds} s`);
    return 0;
  } finally {
    await orm.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
