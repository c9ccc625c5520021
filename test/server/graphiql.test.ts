// The self-hosted GraphiQL page: served at GET /graphql to browsers, assets from public/graphiql, and
// usable in a real (headless) Chromium with every request staying on the server's own origin.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import os from 'node:os';
import path from 'node:path';
import { buildSchema, graphql } from 'graphql';
import { chromium, type Browser } from 'playwright-core';
import { createGraphiqlHandler, ensureGraphiqlAssets, prefersHtml } from '../../src/server/graphiql-page.ts';
import { insertFixture } from '../support/fixtures.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const BROWSER_HTML_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

// A stand-in server for the missing-assets case: the handler first, then graphql-js.
const schema = buildSchema('type Query { hello: String }');
const rootValue = { hello: 'Hello from the catalog' };

async function startStandIn(handler = createGraphiqlHandler()): Promise<{ server: Server; origin: string }> {
  const server = createServer((req, res) => {
    if (handler(req, res)) return;
    if (req.method !== 'POST' || req.url !== '/graphql') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"message":"Not found"}]}');
      return;
    }
    void readJson(req).then(async (body) => {
      const result = await graphql({ schema, rootValue, source: body.query, variableValues: body.variables, operationName: body.operationName });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function readJson(req: IncomingMessage): Promise<{ query: string; variables?: Record<string, unknown>; operationName?: string }> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function stopServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

// The real server (Apollo, cache, SQLite) with a small catalog: 3 authors × 2 books.
let real: TestServer;
let server: Server;
let origin: string;

beforeAll(async () => {
  await ensureGraphiqlAssets();
  real = await startTestServer('sqlite', 'graphiql');
  await insertFixture(real.app.orm, { authors: 3, booksPerAuthor: 2, reviewsPerBook: 1 });
  ({ httpServer: server } = real.app);
  origin = real.url;
}, 60_000);

afterAll(() => real.close());

describe('GET /graphql', () => {
  it('answers a browser with the GraphiQL page, which names no external URL', async () => {
    const res = await fetch(`${origin}/graphql`, { headers: { accept: BROWSER_HTML_ACCEPT } });
    const html = await res.text();

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect(html).toMatch(/<script type="module" src="\/graphql\/assets\/graphiql-\w+\.js"><\/script>/);
    expect(html).toMatch(/<link rel="stylesheet" href="\/graphql\/assets\/graphiql-\w+\.css">/);
    expect(html).not.toMatch(/https?:|\/\/[a-z]/i);
  });

  it('leaves GraphQL clients, which do not prefer HTML, to the GraphQL server', async () => {
    const res = await fetch(`${origin}/graphql?query=${encodeURIComponent('{ books { totalCount } }')}`, {
      headers: { accept: 'application/json', 'apollo-require-preflight': 'true' },
    });

    expect(res.status).toBe(200); // Apollo's answer, not the page
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ data: { books: { totalCount: 6 } } });
  });

  it('ranks text/html against the JSON types like Apollo Server does', () => {
    expect(prefersHtml(BROWSER_HTML_ACCEPT)).toBe(true);
    expect(prefersHtml('text/html')).toBe(true);
    expect(prefersHtml(undefined)).toBe(false);
    expect(prefersHtml('*/*')).toBe(false);
    expect(prefersHtml('application/graphql-response+json, application/json;q=0.9')).toBe(false);
    expect(prefersHtml('text/html;q=0.5, application/json')).toBe(false);
    expect(prefersHtml('text/*, application/json;q=0.1')).toBe(true);
  });

  it('answers 503 with the build command when the assets are missing', async () => {
    const emptyDir = await mkdtemp(path.join(os.tmpdir(), 'graphiql-missing-'));
    const bare = await startStandIn(createGraphiqlHandler({ assetsDir: emptyDir }));
    try {
      const res = await fetch(`${bare.origin}/graphql`, { headers: { accept: BROWSER_HTML_ACCEPT } });

      expect(res.status).toBe(503);
      expect(await res.text()).toContain('npm run build:graphiql');
    } finally {
      await stopServer(bare.server);
      await rm(emptyDir, { recursive: true });
    }
  });
});

describe('GET /graphql/assets/<file>', () => {
  it('serves the built files with their content type, cached as immutable', async () => {
    const html = await (await fetch(`${origin}/graphql`, { headers: { accept: 'text/html' } })).text();
    const [script = '', stylesheet = ''] = [/src="([^"]+\.js)"/, /href="([^"]+\.css)"/].map((re) => re.exec(html)?.[1]);

    const js = await fetch(`${origin}${script}`);
    const css = await fetch(`${origin}${stylesheet}`);

    expect([js.status, js.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8']);
    expect([css.status, css.headers.get('content-type')]).toEqual([200, 'text/css; charset=utf-8']);
    expect(js.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(Number(js.headers.get('content-length'))).toBe((await js.arrayBuffer()).byteLength);
    expect(await css.text()).toContain('.graphiql-container');
  });

  it.each([
    '/graphql/assets/..%2F..%2Fpackage.json',
    '/graphql/assets/../../package.json',
    '/graphql/assets/%2e%2e/manifest.json',
    '/graphql/assets/manifest.json',
    '/graphql/assets/nope-AAAAAAAA.js',
    '/graphql/assets/',
  ])('answers 404 for %s', async (url) => {
    const res = await fetch(`${origin}${url}`);

    expect(res.status).toBe(404);
  });
});

// Chromium's own background calls (component updater, network time, sign-in), which no flag fully
// silences; they come from the browser, not the page. Anything else reaching the proxy fails the test.
const CHROMIUM_SERVICES = /^(?:CONNECT |[A-Z]+ http:\/\/)(?:update\.googleapis\.com|clients2\.google\.com|accounts\.google\.com|content-autofill\.googleapis\.com)[:/]/;

const browserAvailable = existsSync(CHROMIUM);
if (!browserAvailable && !process.env['CI']) {
  console.warn(`Skipping the GraphiQL browser test: no Chromium at ${CHROMIUM}. Install it with scripts/ensure-chromium.sh or set CHROMIUM_PATH.`);
}

(browserAvailable || process.env['CI'] ? describe : describe.skip)('GraphiQL in a browser', () => {
  let browser: Browser;
  // Chromium sends everything not addressed to loopback through this proxy, which refuses it: a
  // request from the page, a worker or the browser itself that would need the internet lands here.
  let offline: { server: Server; attempts: string[] };

  beforeAll(async () => {
    offline = await startRefusingProxy();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync',
        // Passed as a flag, not as Playwright's `proxy` option, which would route loopback too.
        `--proxy-server=http://127.0.0.1:${(offline.server.address() as AddressInfo).port}`,
      ],
    });
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    if (offline) await stopServer(offline.server);
  });

  it('runs a query with no request leaving the server, the Monaco workers included', async () => {
    const served: string[] = [];
    const recordServed = (req: IncomingMessage) => { served.push(`${req.method} ${req.url}`); };
    server.on('request', recordServed);
    const context = await browser.newContext();
    const pageRequests: string[] = [];
    context.on('request', (request) => pageRequests.push(request.url()));
    const page = await context.newPage();
    const problems: string[] = [];
    // Errors, and warnings too: GraphiQL only warns when, say, prettify fails to load its parser.
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));

    try {
      await page.goto(`${origin}/graphql`);
      const queryEditor = page.locator('.graphiql-query-editor .monaco-editor');
      await queryEditor.waitFor({ timeout: 20_000 });
      // The default query is the catalog example (Monaco renders spaces as U+00A0).
      await page.locator('.graphiql-query-editor .view-lines', { hasText: /books\(first:\s5\)/ }).waitFor();

      // The GraphQL worker validates against the introspected catalog schema: an unknown field is flagged.
      await queryEditor.click();
      await page.keyboard.press('ControlOrMeta+A');
      await page.keyboard.insertText('{ noSuchField }');
      await page.locator('.graphiql-query-editor .squiggly-error').first().waitFor({ timeout: 10_000 });

      await page.keyboard.press('ControlOrMeta+A');
      await page.keyboard.insertText('{books(first:1){totalCount}}');
      // Monaco may auto-close the brace it was given: drop whatever it added after the cursor.
      await page.keyboard.press('ControlOrMeta+Shift+End');
      await page.keyboard.press('Delete');
      // Prettify runs the bundled prettier (loaded lazily): one line per field, indented by two.
      await page.getByRole('button', { name: /^Prettify/ }).click();
      await page.locator('.graphiql-query-editor .view-lines', { hasText: /^\{\s{2}books\(first:\s1\)\s\{\s{4}totalCount\s{2}\}\}$/ }).waitFor({ timeout: 10_000 });
      await page.locator('.graphiql-execute-button').click();

      const response = page.locator('.graphiql-response');
      await response.getByText('totalCount').waitFor({ timeout: 10_000 });
      const shown = (await response.textContent())?.replace(/\u00a0/g, ' ');
      expect(shown).toMatch(/"data":\s*\{\s*"books":\s*\{\s*"totalCount":\s*6\s*\}\s*\}/);
    } finally {
      await context.close();
      server.off('request', recordServed);
    }

    expect(offline.attempts.filter((attempt) => !CHROMIUM_SERVICES.test(attempt))).toEqual([]);
    expect(pageRequests.filter((url) => !url.startsWith(`${origin}/`))).toEqual([]);
    const workersServed = served.flatMap((line) => /^GET \/graphql\/assets\/(\w+)\.worker-\w+\.js$/.exec(line)?.[1] ?? []);
    expect(new Set(workersServed)).toEqual(new Set(['editor', 'graphql', 'json']));
    // The schema introspection on load, then the query.
    expect(served.filter((line) => line === 'POST /graphql')).toHaveLength(2);
    expect(problems).toEqual([]);
  }, 60_000);
});

/** An HTTP proxy that records every request (plain or CONNECT) and refuses it. */
async function startRefusingProxy(): Promise<{ server: Server; attempts: string[] }> {
  const attempts: string[] = [];
  const proxy = createServer((req, res) => {
    attempts.push(`${req.method} ${req.url}`);
    res.writeHead(403).end();
  });
  proxy.on('connect', (req: IncomingMessage, socket: Duplex) => {
    attempts.push(`CONNECT ${req.url}`);
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return { server: proxy, attempts };
}
