// Browser entry of the GraphiQL page, bundled by scripts/build-graphiql.ts into public/graphiql/.
// It runs in the browser, not in Node: it is type-checked by ./tsconfig.json (DOM lib), not by the
// server's tsconfig.
import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { createElement } from 'react';
import { createRoot } from 'react-dom/client';
import 'graphiql/style.css';

// Content-hashed file names of the Monaco web workers, injected by the build (esbuild `define`):
// the workers are built first so that their names are known when this file is bundled.
declare const __GRAPHIQL_WORKER_FILES__: Readonly<Record<'editor' | 'json' | 'graphql', string>>;

const DEFAULT_QUERY = `# First five books. Ctrl-Enter runs the query.
{
  books(first: 5) {
    totalCount
    edges {
      node {
        id
        title
        priceCents
        author {
          name
        }
      }
    }
  }
}
`;

// Monaco asks for a worker per language label. Workers are resolved next to this bundle, so the
// page works under any mount path and never reaches for a CDN (graphiql's `setup-workers/esm.sh`
// would load them from esm.sh).
globalThis.MonacoEnvironment = {
  getWorker(_workerId: string, label: string): Worker {
    const file = label === 'json' || label === 'graphql'
      ? __GRAPHIQL_WORKER_FILES__[label]
      : __GRAPHIQL_WORKER_FILES__.editor;
    return new Worker(new URL(file, import.meta.url), { name: `monaco-${label}` });
  },
};

const container = document.getElementById('graphiql');
if (!container) throw new Error('GraphiQL page: missing the <div id="graphiql"> mount point');
const endpoint = new URL(container.dataset['endpoint'] ?? '/graphql', location.href).href;

createRoot(container).render(createElement(GraphiQL, {
  fetcher: createGraphiQLFetcher({ url: endpoint }),
  defaultQuery: DEFAULT_QUERY,
}));
