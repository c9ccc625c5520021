import { readFileSync } from 'node:fs';
import { generate, loadContext } from '@graphql-codegen/cli';

// The resolver types are generated from schema/ by `npm run codegen`; a schema change without a
// regeneration must fail the build rather than leave resolvers typed against an old schema.
it('the checked-in resolver types match what codegen generates from schema/', async () => {
  const context = await loadContext('codegen.yml');
  const outputs = await generate(context, false);
  expect(outputs).toHaveLength(1);
  const stale = outputs.filter((o: { filename: string; content: string }) => readFileSync(o.filename, 'utf8') !== o.content)
    .map((o: { filename: string }) => o.filename);
  expect(stale).toEqual([]); // run `npm run codegen` and commit the result
}, 60_000);
