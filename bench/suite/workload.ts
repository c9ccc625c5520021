/**
 * The suite's three workloads, as load generators that know nothing about which server they hit:
 *
 *   Q1  `book(id:)` with its author and first 5 reviews (and reviewCount), ids drawn from a Zipf
 *       distribution over all books (autocannon, one body per request through `setupRequest`);
 *   Q2  `books(first: 20, orderBy: {field: PRICE, direction: ASC})`, each connection walking pages by
 *       following `endCursor` (autocannon; a chain goes on to the next page with probability 0.9, so it
 *       is 10 pages long on average and restarts from the first page);
 *   Q3  95% reads (Q1 and Q2 as above) / 5% writes (`updateBook` price or title, `addReview`), driven by
 *       our own loop of concurrent workers on `node:http` (a keep-alive Agent), because every read is
 *       checked against the writes whose response had arrived before the read was sent.
 *
 * Stale read (Q3): a read that started at t0 and returned, for some book, a price, title or
 * reviewCount older than one whose mutation response had arrived before t0. Writes of one book are
 * serialised by the driver (one in flight per book), so a book's versions are acknowledged in order;
 * every value written is unique per book, so a value read names its version.
 */
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { mulberry32 } from '../mulberry32.ts';
import { zipfRank } from '../zipf.ts';

export { mulberry32 };
import autocannon from 'autocannon';

// --- Operations ----------------------------------------------------------------------------------

export const Q1_QUERY = `query Q1($id: ID!) {
  book(id: $id) {
    id title priceCents reviewCount
    author { id name }
    reviews(first: 5) { totalCount edges { node { id rating body createdAt } } }
  }
}`;

export const Q2_QUERY = `query Q2($after: String) {
  books(first: 20, after: $after, orderBy: {field: PRICE, direction: ASC}) {
    edges { cursor node { id title priceCents author { id name } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const SET_PRICE = 'mutation SetPrice($id: ID!, $price: Int!) { updateBook(id: $id, input: {priceCents: $price}) { id priceCents } }';
export const SET_TITLE = 'mutation SetTitle($id: ID!, $title: String!) { updateBook(id: $id, input: {title: $title}) { id title } }';
export const ADD_REVIEW = 'mutation AddReview($bookId: ID!) { addReview(input: {bookId: $bookId, rating: 4, body: "bench"}) { id } }';

/** Probability that a Q2 chain goes on to the next page (else it restarts from the first page). */
export const Q2_CONTINUE = 0.9;

// --- The catalog as the driver knows it -----------------------------------------------------------

/** The seeded books, in database id order (index b), as read from the database before the run. */
export interface Catalog {
  readonly gids: readonly string[];
  readonly dbIds: readonly number[];
  readonly price: readonly number[];
  readonly title: readonly string[];
  readonly reviewCount: readonly number[];
  readonly indexOfGid: ReadonlyMap<string, number>;
}

// --- Sampling --------------------------------------------------------------------------------------


/**
 * Draws an index in [0, n) with P(rank r) ∝ 1 / (r + 1)^s; ranks map to a fixed random permutation of
 * the indexes, so the hot books are spread over ids and prices (the same permutation for every target).
 */
export function zipfSampler(n: number, s: number, random: () => number, permutationSeed = 7): () => number {
  const rank = zipfRank(n, s, random);
  const order = zipfOrder(n, permutationSeed);
  return () => order[rank()]!;
}

/** The indexes by Zipf rank, hottest first (the permutation zipfSampler draws from). */
export function zipfOrder(n: number, permutationSeed = 7): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const shuffle = mulberry32(permutationSeed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(shuffle() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

// --- Results -------------------------------------------------------------------------------------

export interface LoadResult {
  /** Completed requests (any status). */
  readonly requests: number;
  readonly seconds: number;
  readonly reqPerSec: number;
  /** Latency percentiles of successful responses, in milliseconds. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Transport errors, timeouts, non-2xx responses and GraphQL errors (all should be 0). */
  readonly errors: number;
  readonly errorSamples: readonly string[];
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Latencies in a growable typed array (a 10 s run at 10k req/s is 100k samples). */
class Samples {
  private data = new Float64Array(1 << 14);
  length = 0;
  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }
  sorted(): Float64Array {
    return this.data.slice(0, this.length).sort();
  }
}

const SAMPLE_LIMIT = 5;

// --- Autocannon scenarios (Q1, Q2) ---------------------------------------------------------------

const JSON_HEADERS = { 'content-type': 'application/json' };

interface CannonOptions {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  readonly requests: autocannon.Request[];
}

/** Runs autocannon in this process; latencies are taken from its 'response' events (sub-millisecond). */
function cannon(options: CannonOptions, graphqlErrors: { count: number; samples: string[] }): Promise<LoadResult> {
  const latencies = new Samples();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `${options.url}/graphql`,
        connections: options.connections,
        duration: options.seconds,
        method: 'POST',
        headers: JSON_HEADERS,
        requests: options.requests,
        timeout: 10,
      },
      (error, result) => {
        if (error) return reject(error);
        const sorted = latencies.sorted();
        const requests = result.requests.total;
        const errors = result.errors + result.non2xx + graphqlErrors.count;
        resolve({
          requests, seconds: result.duration, reqPerSec: requests / result.duration,
          p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99),
          errors, errorSamples: graphqlErrors.samples,
        });
      },
    );
    instance.on('response', (_client, status, _bytes, responseTime) => {
      if (status >= 200 && status < 300) latencies.push(responseTime);
    });
  });
}

function noteError(sink: { count: number; samples: string[] }, text: string): void {
  sink.count++;
  if (sink.samples.length < SAMPLE_LIMIT) sink.samples.push(text.slice(0, 300));
}

export interface Q1Options {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  readonly catalog: Catalog;
  readonly zipf: number;
  readonly seed: number;
}

/** Q1: `book(id:)` with Zipf-distributed ids, one body per request. */
export function runQ1(options: Q1Options): Promise<LoadResult> {
  const pick = zipfSampler(options.catalog.gids.length, options.zipf, mulberry32(options.seed));
  const bodies = options.catalog.gids.map((id) => JSON.stringify({ query: Q1_QUERY, variables: { id } }));
  const errors = { count: 0, samples: [] as string[] };
  return cannon({
    ...options,
    requests: [{
      method: 'POST',
      setupRequest: (req) => ({ ...req, body: bodies[pick()]! }),
      onResponse(status, body) {
        if (status === 200 && body.startsWith('{"data":{"book":{') && !body.includes('"errors"')) return;
        noteError(errors, `HTTP ${status} ${body}`);
      },
    }],
  }, errors);
}

export interface Q2Options {
  readonly url: string;
  readonly connections: number;
  readonly seconds: number;
  readonly seed: number;
}

interface ChainContext {
  after?: string | null;
}

/**
 * Q2: each connection walks PRICE ASC pages by following endCursor. autocannon clears a
 * connection's context whenever it wraps around its list of requests, so the list holds many copies
 * of the one request: a context (the chain) then lives for that many requests.
 */
export function runQ2(options: Q2Options): Promise<LoadResult> {
  const random = mulberry32(options.seed);
  const firstPage = JSON.stringify({ query: Q2_QUERY, variables: { after: null } });
  const errors = { count: 0, samples: [] as string[] };
  const request: autocannon.Request = {
    method: 'POST',
    setupRequest(req, context) {
      const after = (context as ChainContext).after ?? null;
      return { ...req, body: after === null ? firstPage : JSON.stringify({ query: Q2_QUERY, variables: { after } }) };
    },
    onResponse(status, body, context) {
      const chain = context as ChainContext;
      chain.after = null;
      try {
        const parsed = JSON.parse(body) as { data?: { books?: { edges: unknown[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } }; errors?: unknown };
        const page = parsed.data?.books;
        if (status !== 200 || parsed.errors || !page || page.edges.length === 0) {
          noteError(errors, `HTTP ${status} ${body}`);
          return;
        }
        if (page.pageInfo.hasNextPage && random() < Q2_CONTINUE) chain.after = page.pageInfo.endCursor;
      } catch {
        noteError(errors, `HTTP ${status} unparsable ${body}`);
      }
    },
  };
  return cannon({ ...options, requests: Array.from({ length: 1000 }, () => ({ ...request })) }, errors);
}

/**
 * Asks Q1 once per book, hottest first (Zipf rank order), with `workers` concurrent loops, for at most
 * `seconds`: fills whatever cache the target has, so that "warm" covers the catalog (as much of it
 * as the time allows) and not only the Zipf head. `ranks`: only the books of those Zipf ranks
 * ([from, to)), so that several targets can be warmed in turns, chunk by chunk, and their caches
 * age alike. Returns how many books it asked for, and failures.
 */
export async function sweepQ1(
  url: string, catalog: Catalog, workers: number, seconds: number, ranks?: { readonly from: number; readonly to: number },
): Promise<{ books: number; failures: number }> {
  const poster = createPoster(url, workers);
  const order = zipfOrder(catalog.gids.length).slice(ranks?.from ?? 0, ranks?.to);
  const deadline = performance.now() + seconds * 1000;
  let next = 0;
  let failures = 0;
  const loop = async () => {
    while (next < order.length && performance.now() < deadline) {
      const id = catalog.gids[order[next++]!]!;
      try {
        const answer = await poster.post(Q1_QUERY, { id });
        if (answer.status !== 200 || answer.body?.data?.book?.id !== id) failures++;
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
  poster.close();
  return { books: next, failures };
}

// --- Q3: the mixed workload, with the stale-read check ---------------------------------------------

export interface GraphQLAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: { data?: any; errors?: { message: string; extensions?: { code?: string } }[] } | null;
  readonly text: string;
}

/** POSTs to `${baseUrl}/graphql` over a keep-alive agent. */
export function createPoster(baseUrl: string, maxSockets: number) {
  const url = new URL('/graphql', baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets });
  return {
    post(query: string, variables?: Record<string, unknown>): Promise<GraphQLAnswer> {
      const payload = JSON.stringify({ query, variables });
      return new Promise((resolve, reject) => {
        const req = request({
          host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: GraphQLAnswer['body'] = null;
            try { body = JSON.parse(text); } catch { /* reported by the caller */ }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text });
          });
        });
        req.setTimeout(10_000, () => req.destroy(new Error('request timed out after 10 s')));
        req.on('error', reject);
        req.end(payload);
      });
    },
    close(): void {
      agent.destroy();
    },
  };
}

export const WRITE_KINDS = ['price', 'title', 'review'] as const;
export type WriteKind = (typeof WRITE_KINDS)[number];
export const FIELDS = ['priceCents', 'title', 'reviewCount'] as const;
export type Field = (typeof FIELDS)[number];

export interface MixOptions {
  readonly url: string;
  readonly workers: number;
  readonly seconds: number;
  readonly catalog: Catalog;
  readonly zipf: number;
  readonly seed: number;
  /** Shares of all operations (the rest are Q1 reads). Default: 2% price, 1% title, 2% review, 30% Q2. */
  readonly mix?: { readonly price: number; readonly title: number; readonly review: number; readonly q2: number };
  /**
   * The books' write history, to continue in a later run against the same database and server
   * (bench/suite/q3-interleaved.ts runs Q3 in slices); absent: a fresh one (the seeded values).
   */
  readonly history?: MixHistory;
}

/** What runMixed knows of each book's acknowledged writes (see MixOptions.history). */
export type MixHistory = Map<number, BookState>;

export function createMixHistory(): MixHistory {
  return new Map();
}

export interface MixResult extends LoadResult {
  readonly reads: number;
  readonly writes: Record<WriteKind, number>;
  /** Reads with at least one stale value; values by field. */
  readonly staleReads: number;
  readonly staleValues: Record<Field, number>;
  /** Longest time from a write's acknowledgement to the start of a read that still missed it (ms). */
  readonly maxStaleMs: number | null;
  /** Values no write ever produced (would mean a broken check): counted in errors too. */
  readonly impossible: number;
  readonly staleSamples: readonly string[];
  /** Books written during the run (database ids): the suite restores them afterwards. */
  readonly touchedBooks: readonly number[];
  /** Latency by kind of operation (successful ones): where a closed loop's time goes. */
  readonly latencyByKind: Record<OperationKind, { readonly count: number; readonly meanMs: number; readonly p50Ms: number; readonly p99Ms: number; readonly maxMs: number }>;
  /** Reads a response cache answered (`x-response-cache: HIT`, or an `age` header), by kind. */
  readonly cachedByKind: Record<OperationKind, number>;
}

export const OPERATION_KINDS = ['Q1', 'Q2', 'write'] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

interface BookState {
  busy: boolean;
  /** Ack time of version k + 1 at [k]; Infinity for a write that failed (unknown outcome). */
  readonly priceAcks: number[];
  readonly titleAcks: number[];
  readonly reviewAcks: number[];
  readonly priceVersion: Map<number, number>;
}

/** The price of version k (≥ 1) of book b: unique per book, never the seeded price, within the seeded range. */
function priceOf(b: number, k: number, original: number): number {
  const value = 100 + ((k * 5729 + b * 31) % 9000); // 5729 is coprime with 9000: unique for k < 9000
  return value === original ? value + 9000 : value;
}

const titleOf = (dbId: number, k: number) => `Bench b${dbId} v${k}`;
const TITLE_VERSION = /^Bench b(\d+) v(\d+)$/;

/**
 * Q3: `workers` concurrent loops, each: 95% reads (Q1 ~65%, Q2 page walk ~30%) and 5% writes on
 * Zipf-chosen books (one write in flight per book: a busy book is redrawn, up to 5 times, else the
 * worker reads instead). Every value read is checked against the writes acknowledged before the
 * read was sent.
 */
export async function runMixed(options: MixOptions): Promise<MixResult> {
  const { catalog } = options;
  const mix = options.mix ?? { price: 0.02, title: 0.01, review: 0.02, q2: 0.30 };
  const random = mulberry32(options.seed);
  const pick = zipfSampler(catalog.gids.length, options.zipf, random);
  const poster = createPoster(options.url, options.workers);
  const now = () => performance.now();

  const state = options.history ?? createMixHistory();
  const stateOf = (b: number): BookState => {
    let s = state.get(b);
    if (!s) state.set(b, (s = { busy: false, priceAcks: [], titleAcks: [], reviewAcks: [], priceVersion: new Map() }));
    return s;
  };

  const latencies = new Samples();
  const kindLatencies: Record<OperationKind, Samples> = { Q1: new Samples(), Q2: new Samples(), write: new Samples() };
  const cachedByKind: Record<OperationKind, number> = { Q1: 0, Q2: 0, write: 0 };
  let requests = 0;
  let reads = 0;
  let errors = 0;
  let impossible = 0;
  let staleReads = 0;
  let maxStaleMs: number | null = null;
  const writes: Record<WriteKind, number> = { price: 0, title: 0, review: 0 };
  const staleValues: Record<Field, number> = { priceCents: 0, title: 0, reviewCount: 0 };
  const errorSamples: string[] = [];
  const staleSamples: string[] = [];
  const error = (text: string) => {
    errors++;
    if (errorSamples.length < SAMPLE_LIMIT) errorSamples.push(text.slice(0, 300));
  };

  /** The newest version acknowledged before t0 (versions are 1-based; 0 = the seeded value). */
  const required = (acks: readonly number[], t0: number): { version: number; ack: number } => {
    for (let i = acks.length - 1; i >= 0; i--) if (acks[i]! < t0) return { version: i + 1, ack: acks[i]! };
    return { version: 0, ack: Number.NaN };
  };

  /** Checks one value; returns whether it was stale. */
  const check = (field: Field, b: number, read: number, t0: number, what: string): boolean => {
    const s = state.get(b);
    const acks = s ? (field === 'priceCents' ? s.priceAcks : field === 'title' ? s.titleAcks : s.reviewAcks) : [];
    if (read < 0 || read > acks.length) {
      impossible++;
      error(`${what}: book ${catalog.dbIds[b]} ${field} read version ${read}, only ${acks.length} issued`);
      return false;
    }
    const need = required(acks, t0);
    if (read >= need.version) return false;
    staleValues[field]++;
    // How long ago the oldest write this read missed was acknowledged.
    const missedAck = acks[read]!;
    const lag = t0 - (Number.isFinite(missedAck) ? missedAck : need.ack);
    maxStaleMs = Math.max(maxStaleMs ?? 0, lag);
    if (staleSamples.length < SAMPLE_LIMIT) {
      staleSamples.push(`${what}: book ${catalog.dbIds[b]} ${field} v${read}, v${need.version} acknowledged ${lag.toFixed(1)} ms before the read started`);
    }
    return true;
  };

  const checkNode = (node: any, t0: number, what: string, withCount: boolean): boolean => {
    const b = typeof node?.id === 'string' ? catalog.indexOfGid.get(node.id) : undefined;
    if (b === undefined) {
      error(`${what}: unexpected node ${JSON.stringify(node)?.slice(0, 200)}`);
      return false;
    }
    let stale = false;
    // Price → version: the seeded price is version 0; anything else must be a value we wrote.
    const price = node.priceCents as number;
    const priceVersion = price === catalog.price[b] ? 0 : (state.get(b)?.priceVersion.get(price) ?? -1);
    stale = check('priceCents', b, priceVersion, t0, what) || stale;
    const title = node.title as string;
    const match = TITLE_VERSION.exec(title);
    const titleVersion = title === catalog.title[b] ? 0 : match && Number(match[1]) === catalog.dbIds[b] ? Number(match[2]) : -1;
    stale = check('title', b, titleVersion, t0, what) || stale;
    if (withCount) {
      for (const count of [node.reviewCount, node.reviews?.totalCount] as number[]) {
        stale = check('reviewCount', b, count - catalog.reviewCount[b]!, t0, what) || stale;
      }
    }
    return stale;
  };

  const timed = async (kind: OperationKind, query: string, variables: Record<string, unknown>): Promise<{ answer: GraphQLAnswer | null; t0: number }> => {
    const t0 = now();
    let answer: GraphQLAnswer | null = null;
    try {
      answer = await poster.post(query, variables);
    } catch (e) {
      error(`transport: ${(e as Error).message}`);
    }
    requests++;
    if (answer && answer.status === 200 && answer.body?.data && !answer.body.errors) {
      latencies.push(now() - t0);
      kindLatencies[kind].push(now() - t0);
      if (answer.headers['x-response-cache'] === 'HIT' || answer.headers.age !== undefined) cachedByKind[kind]++;
    } else if (answer) error(`HTTP ${answer.status} ${answer.text}`);
    return { answer, t0 };
  };

  const readQ1 = async (b: number): Promise<void> => {
    const { answer, t0 } = await timed('Q1', Q1_QUERY, { id: catalog.gids[b] });
    reads++;
    const book = answer?.body?.data?.book;
    if (!answer?.body?.data) return;
    if (!book) return error(`Q1: book ${catalog.dbIds[b]} answered null`);
    if (checkNode(book, t0, 'Q1', true)) staleReads++;
  };

  const readQ2 = async (chain: ChainContext): Promise<void> => {
    const after = chain.after ?? null;
    const { answer, t0 } = await timed('Q2', Q2_QUERY, { after });
    reads++;
    chain.after = null;
    const page = answer?.body?.data?.books;
    if (!page) return;
    let stale = false;
    for (const edge of page.edges as { node: unknown }[]) stale = checkNode(edge.node, t0, 'Q2', false) || stale;
    if (stale) staleReads++;
    if (page.pageInfo.hasNextPage && random() < Q2_CONTINUE) chain.after = page.pageInfo.endCursor;
  };

  const write = async (kind: WriteKind, b: number): Promise<void> => {
    const s = stateOf(b);
    s.busy = true;
    const gid = catalog.gids[b]!;
    let acks: number[];
    let ok: (data: any) => boolean;
    let variables: Record<string, unknown>;
    let query: string;
    if (kind === 'price') {
      const k = s.priceAcks.length + 1;
      const price = priceOf(b, k, catalog.price[b]!);
      s.priceVersion.set(price, k);
      acks = s.priceAcks;
      query = SET_PRICE;
      variables = { id: gid, price };
      ok = (data) => data?.updateBook?.priceCents === price;
    } else if (kind === 'title') {
      const title = titleOf(catalog.dbIds[b]!, s.titleAcks.length + 1);
      acks = s.titleAcks;
      query = SET_TITLE;
      variables = { id: gid, title };
      ok = (data) => data?.updateBook?.title === title;
    } else {
      acks = s.reviewAcks;
      query = ADD_REVIEW;
      variables = { bookId: gid };
      ok = (data) => typeof data?.addReview?.id === 'string';
    }
    const slot = acks.length;
    acks.push(Number.POSITIVE_INFINITY); // issued, not acknowledged
    const { answer } = await timed('write', query, variables);
    writes[kind]++;
    if (answer?.body?.data && !answer.body.errors && ok(answer.body.data)) acks[slot] = now();
    else if (answer?.body?.data) error(`${kind}: unexpected answer ${answer.text}`);
    s.busy = false;
  };

  const worker = async (deadline: number): Promise<void> => {
    const chain: ChainContext = { after: null };
    while (now() < deadline) {
      const r = random();
      if (r < mix.price + mix.title + mix.review) {
        const kind: WriteKind = r < mix.price ? 'price' : r < mix.price + mix.title ? 'title' : 'review';
        let b = pick();
        for (let tries = 0; tries < 5 && state.get(b)?.busy; tries++) b = pick();
        if (!state.get(b)?.busy) {
          await write(kind, b);
          continue;
        }
        await readQ1(b);
      } else if (r < mix.price + mix.title + mix.review + mix.q2) {
        await readQ2(chain);
      } else {
        await readQ1(pick());
      }
    }
  };

  const started = now();
  const deadline = started + options.seconds * 1000;
  await Promise.all(Array.from({ length: options.workers }, () => worker(deadline)));
  const seconds = (now() - started) / 1000;
  poster.close();
  const sorted = latencies.sorted();
  return {
    requests, seconds, reqPerSec: requests / seconds,
    p50Ms: percentile(sorted, 0.5), p99Ms: percentile(sorted, 0.99),
    errors, errorSamples, reads, writes, staleReads, staleValues, maxStaleMs, impossible, staleSamples,
    touchedBooks: [...state.keys()].map((b) => catalog.dbIds[b]!),
    cachedByKind,
    latencyByKind: Object.fromEntries(OPERATION_KINDS.map((kind) => {
      const all = kindLatencies[kind].sorted();
      const mean = all.length === 0 ? Number.NaN : all.reduce((sum, x) => sum + x, 0) / all.length;
      return [kind, { count: all.length, meanMs: mean, p50Ms: percentile(all, 0.5), p99Ms: percentile(all, 0.99), maxMs: all.length === 0 ? Number.NaN : all[all.length - 1]! }];
    })) as MixResult['latencyByKind'],
  };
}
