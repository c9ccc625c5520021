/**
 * Patching a stale answer (src/graphql/answer-patch.ts) on a small schema executed by graphql-js:
 * what the recording sees, and that a patched answer is byte for byte what running the operation
 * again answers — or that the patch is refused where it could differ.
 */
import { execute, parse, type GraphQLSchema } from 'graphql';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { createPatchRecorder, mayPatch, patchAnswer, recordEntityFields, type PatchRecorder } from '../../src/graphql/answer-patch.ts';

type Row = { id: number; title: string; genre: string; authorId: number; note: string | null };

const typeDefs = `
  enum Genre { NOVEL POEM }
  type Query { book(id: Int!): Book, books: [Book!]! }
  type Book { id: Int! title: String! genre: Genre! note: String author: Author! shout: String! }
  type Author { id: Int! name: String! }
`;

function setup() {
  const books = new Map<number, Row>([[1, { id: 1, title: 'One', genre: 'NOVEL', authorId: 7, note: null }], [2, { id: 2, title: 'Two', genre: 'POEM', authorId: 7, note: 'n' }]]);
  const authors = new Map([[7, { id: 7, name: 'Ann' }], [8, { id: 8, name: 'Bob' }]]);
  let recorder: PatchRecorder | undefined;
  const schema: GraphQLSchema = recordEntityFields(makeExecutableSchema({
    typeDefs,
    resolvers: {
      Query: { book: (_: unknown, { id }: { id: number }) => books.get(id) ?? null, books: () => [...books.values()] },
      Book: { author: (b: Row) => authors.get(b.authorId), shout: (b: Row) => b.title.toUpperCase() },
    },
  }), ['Book', 'Author'], () => recorder);
  /** Runs `query` recording (as a cacheable request does): the body Apollo would send, and the recording. */
  const run = async (query: string) => {
    recorder = createPatchRecorder();
    const result = await execute({ schema, document: parse(query) });
    const recorded = recorder;
    recorder = undefined;
    return { body: `${JSON.stringify(result)}\n`, recorded };
  };
  return { books, run };
}

test('a changed column is patched wherever the row appears, aliases too; leaf types serialize as in execution', async () => {
  const { books, run } = setup();
  const query = '{ a: book(id: 1) { id title genre note } b: book(id: 1) { heading: title author { name } } }';
  const before = await run(query);
  books.set(1, { ...books.get(1)!, title: 'Uno "1"', genre: 'POEM', note: 'now' });
  const changed = [{ type: 'Book', id: '1' }];
  expect(mayPatch(before.recorded, changed)).toBe(true);
  const patched = patchAnswer(before.body, before.recorded, new Map([['Book:1', books.get(1)!]]));
  const now = await run(query);
  expect(patched?.body).toBe(now.body);
  // Patched again from the patch's own recording.
  books.set(1, { ...books.get(1)!, note: null });
  const again = patchAnswer(patched!.body, patched!.recorded, new Map([['Book:1', books.get(1)!]]));
  expect(again?.body).toBe((await run(query)).body);
});

test('refused: a field of its own read a changed column, a non-null column became null, the row is gone', async () => {
  const { books, run } = setup();
  const withAuthor = await run('{ book(id: 1) { title author { name } } }');
  // author() read authorId: the relation moved.
  expect(patchAnswer(withAuthor.body, withAuthor.recorded, new Map([['Book:1', { ...books.get(1)!, authorId: 8 }]]))).toBeNull();
  // A field of its own that read only unchanged columns keeps its value; shout() read the title.
  const shouted = await run('{ book(id: 1) { shout author { name } } }');
  expect(patchAnswer(shouted.body, shouted.recorded, new Map([['Book:1', { ...books.get(1)!, title: 'x' }]]))).toBeNull();
  expect(patchAnswer(shouted.body, shouted.recorded, new Map([['Book:1', { ...books.get(1)!, note: 'x' }]]))?.body).toBe(shouted.body);
  expect(patchAnswer(withAuthor.body, withAuthor.recorded, new Map([['Book:1', { ...books.get(1)!, title: null as never }]]))).toBeNull();
  expect(patchAnswer(withAuthor.body, withAuthor.recorded, new Map([['Book:1', null]]))).toBeNull();
});

test('rows in a list are not recorded: a change to a row of their type is not patched; nor one the answer never showed', async () => {
  const { run } = setup();
  const listed = await run('{ books { title } book(id: 1) { title } }');
  expect([...listed.recorded.listed]).toEqual(['Book']);
  expect(listed.recorded.uses.map((use) => use.entity)).toEqual(['Book:1']); // the root book only
  expect(mayPatch(listed.recorded, [{ type: 'Book', id: '1' }])).toBe(false);
  const single = await run('{ book(id: 1) { title } }');
  expect(mayPatch(single.recorded, [{ type: 'Book', id: '2' }])).toBe(false);
  expect(mayPatch(single.recorded, [{ type: 'Author', id: '7' }])).toBe(false);
});
