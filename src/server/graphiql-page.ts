// Serves GraphiQL from assets this project builds (scripts/build-graphiql.ts), never from a CDN, so
// it works offline. It replaces Apollo Server's default landing page, which loads from the internet.
//   GET <graphqlPath>                 with an Accept header preferring text/html: the page
//   GET <graphqlPath>/assets/<file>   a file of the assets folder (content-hashed: immutable)
// Anything else is left to the caller (returns false), e.g. POST /graphql to Apollo.
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface GraphiqlHandlerOptions {
  /** Folder written by `npm run build:graphiql`. Default: public/graphiql of this project. */
  assetsDir?: string;
  /** Path of the GraphQL endpoint, where the page is served. Default: /graphql. */
  graphqlPath?: string;
  /** Told about failures to read the assets (the client gets a 500). Default: console.error. */
  onError?: (error: unknown) => void;
}

export type GraphiqlHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

export const DEFAULT_ASSETS_DIR = fileURLToPath(new URL('../../public/graphiql/', import.meta.url));
const MANIFEST_FILE = 'manifest.json'; // written by scripts/build-graphiql.ts

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};
// Only names the build emits: `name-HASH.ext`, no separators, so no way out of the folder.
const ASSET_NAME = /^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.(?:js|css)$/;

// Workers and fonts come from the page's own origin (fonts are inlined as data: URLs in the CSS);
// Monaco injects <style> elements, hence 'unsafe-inline' for styles only.
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'", "script-src 'self'", "worker-src 'self'", "connect-src 'self'",
  "style-src 'self' 'unsafe-inline'", "font-src 'self' data:", "img-src 'self' data:",
  "base-uri 'none'", "form-action 'none'", "frame-ancestors 'none'",
].join('; ');

export function createGraphiqlHandler(options: GraphiqlHandlerOptions = {}): GraphiqlHandler {
  const graphqlPath = options.graphqlPath ?? '/graphql';
  if (!/^\/[^?#]*[^/?#]$/.test(graphqlPath)) {
    throw new TypeError(`createGraphiqlHandler: graphqlPath must be a path like "/graphql" (leading "/", no trailing "/", no query); got ${JSON.stringify(graphqlPath)}`);
  }
  const assetsDir = path.resolve(options.assetsDir ?? DEFAULT_ASSETS_DIR);
  const assetsPrefix = `${graphqlPath}/assets/`;
  const onError = options.onError ?? ((error: unknown) => console.error('graphiql-page:', error));
  const fail = (res: ServerResponse) => (error: unknown): void => {
    onError(error);
    if (res.headersSent) res.destroy();
    else res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('GraphiQL: internal error\n');
  };

  return (req, res) => {
    const pathname = (req.url ?? '/').split('?', 1)[0];
    const isRead = req.method === 'GET' || req.method === 'HEAD';
    if (pathname === graphqlPath) {
      if (!isRead || !prefersHtml(req.headers.accept)) return false;
      void sendPage(res, req.method === 'HEAD', assetsDir, graphqlPath).catch(fail(res));
      return true;
    }
    if (pathname?.startsWith(assetsPrefix)) {
      if (!isRead) {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Method not allowed\n');
        return true;
      }
      void sendAsset(req, res, assetsDir, pathname.slice(assetsPrefix.length), fail(res)).catch(fail(res));
      return true;
    }
    return false;
  };
}

/**
 * Builds the assets when the manifest or a file it names is missing (e.g. on a fresh checkout before
 * `npm start`). Needs the devDependencies (esbuild, graphiql), so the build is imported lazily.
 */
export async function ensureGraphiqlAssets(options: { assetsDir?: string } = {}): Promise<{ built: boolean }> {
  const assetsDir = path.resolve(options.assetsDir ?? DEFAULT_ASSETS_DIR);
  if (await readManifest(assetsDir) !== undefined) return { built: false };
  const { buildGraphiqlAssets } = await import('../../scripts/build-graphiql.ts');
  await buildGraphiqlAssets({ outDir: assetsDir });
  return { built: true };
}

/**
 * Whether an Accept header ranks text/html above the JSON types GraphQL clients ask for. A tie, as
 * with no header or a lone wildcard, is not a browser: the same choice Apollo Server makes for its
 * landing page.
 */
export function prefersHtml(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  const ranges = accept.split(',').map((part) => {
    const [range = '', ...params] = part.split(';').map((piece) => piece.trim().toLowerCase());
    const q = params.find((param) => param.startsWith('q='));
    return { range, q: q === undefined ? 1 : Number(q.slice(2)) || 0 };
  });
  const quality = (type: string): number => {
    const [major] = type.split('/');
    const match = ranges.find((r) => r.range === type) ?? ranges.find((r) => r.range === `${major}/*`)
      ?? ranges.find((r) => r.range === '*/*');
    return match?.q ?? 0;
  };
  const html = quality('text/html');
  return html > 0 && html > Math.max(quality('application/json'), quality('application/graphql-response+json'));
}

interface Manifest { readonly script: string; readonly stylesheet: string }

/** The build's manifest, or undefined when the assets are missing or incomplete. */
async function readManifest(assetsDir: string): Promise<Manifest | undefined> {
  let manifest: Partial<Manifest>;
  try {
    manifest = JSON.parse(await readFile(path.join(assetsDir, MANIFEST_FILE), 'utf8')) as Partial<Manifest>;
  } catch {
    return undefined;
  }
  const { script, stylesheet } = manifest;
  if (typeof script !== 'string' || typeof stylesheet !== 'string') return undefined;
  const sizes = await Promise.all([script, stylesheet].map((file) => fileSize(path.join(assetsDir, path.basename(file)))));
  return sizes.every((size) => size !== undefined) ? { script, stylesheet } : undefined;
}

async function sendPage(res: ServerResponse, headOnly: boolean, assetsDir: string, graphqlPath: string): Promise<void> {
  const manifest = await readManifest(assetsDir);
  const html = manifest === undefined
    ? renderHtml('<p class="graphiql-missing">GraphiQL is not built. Run <code>npm run build:graphiql</code> and reload.</p>')
    : renderHtml(`<div id="graphiql" style="height:100dvh" data-endpoint="${escapeHtml(graphqlPath)}">Loading GraphiQL…</div>`, [
      `<link rel="stylesheet" href="${escapeHtml(`${graphqlPath}/assets/${manifest.stylesheet}`)}">`,
      `<script type="module" src="${escapeHtml(`${graphqlPath}/assets/${manifest.script}`)}"></script>`,
    ]);
  res.writeHead(manifest === undefined ? 503 : 200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'cache-control': 'no-cache',
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    vary: 'Accept',
  });
  res.end(headOnly ? undefined : html);
}

function renderHtml(body: string, head: readonly string[] = []): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>GraphiQL</title>
<link rel="icon" href="data:,">
${head.join('\n')}
</head>
<body style="margin:0">
${body}
</body>
</html>
`;
}

async function sendAsset(
  req: IncomingMessage, res: ServerResponse, assetsDir: string, name: string, onStreamError: (error: unknown) => void,
): Promise<void> {
  const contentType = CONTENT_TYPES[path.extname(name)];
  const size = ASSET_NAME.test(name) && contentType !== undefined ? await fileSize(path.join(assetsDir, name)) : undefined;
  if (contentType === undefined || size === undefined) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache' }).end('Not found\n');
    return;
  }
  res.writeHead(200, {
    'content-type': contentType,
    'content-length': size,
    // Every asset name carries a content hash: a changed file is a new URL.
    'cache-control': 'public, max-age=31536000, immutable',
    'x-content-type-options': 'nosniff',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(path.join(assetsDir, name)).on('error', onStreamError).pipe(res);
}

/** The size of a regular file, or undefined when there is none at that path. */
async function fileSize(file: string): Promise<number | undefined> {
  return stat(file).then((stats) => (stats.isFile() ? stats.size : undefined), () => undefined);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}
