import { RESPONSE_MAX_TTL_SECONDS } from '../cache/response-store.ts';
import { DEFAULT_LIMITS, type QueryLimits } from './query-limits.ts';

/** Runtime configuration, read once from the environment and validated at the boundary. */
export interface ServerConfig {
  readonly port: number;
  /** Interface to listen on: loopback by default; 0.0.0.0 (or ::) to serve other hosts. */
  readonly host: string;
  /** undefined: the default SQLite file (see parseDatabaseUrl). */
  readonly databaseUrl: string | undefined;
  /** redis://, rediss://, or redis+cluster://host:port,host:port (REDIS_CLUSTER_NODES, when set, wins). */
  readonly redisUrl: string;
  /** Prefix of every Redis key, so that several deployments or test files can share one Redis. */
  readonly cachePrefix: string;
  /** false: no Redis at all, every read goes to the database (the benchmark's baseline). */
  readonly cacheEnabled: boolean;
  /** Fill leases against thundering herds (off only to measure what they save). */
  readonly cacheLeases: boolean;
  /** Seed a small demo catalog when the database is empty (first start). */
  readonly seedDemo: boolean;
  readonly logLevel: string;
  /**
   * Adds `extensions.cache` (keys, SQL, round trips) to every response, not only to requests sent
   * with `x-cache-trace: 1`. Optional so that configs written before it stay valid (off).
   */
  readonly cacheTrace?: boolean;
  /**
   * The whole-response cache (RESPONSE_CACHE, default on with the cache): repeated cacheable
   * queries are answered without running, while everything they were built from is current.
   */
  readonly responseCache?: boolean;
  /**
   * How long a stored answer is kept (RESPONSE_CACHE_TTL_SECONDS, default and at most
   * RESPONSE_MAX_TTL_SECONDS): at least its maxAge, which still decides its Cache-Control header.
   * Every hit is checked against everything the answer was built from, so keeping it past its
   * maxAge never serves a stale one. 0: its maxAge (what a TTL-only response cache must do).
   */
  readonly responseCacheTtlSeconds?: number;
  /**
   * Rebuild a stale answer whose only change is some entity rows by patching those rows' fields
   * into it instead of running its operation again (RESPONSE_CACHE_PATCHES, default on; see
   * src/graphql/answer-patch.ts).
   */
  readonly responseCachePatches?: boolean;
  /** How often the shared epoch is re-read in case a pub/sub announcement was missed (ms). */
  readonly epochRefreshMs?: number;
  /**
   * In-process LRU tier in front of Redis: entries held at most (LOCAL_CACHE_MAX; 0, the default:
   * no tier) and their maximum age in ms (LOCAL_CACHE_TTL_MS, default 1000), the bound on
   * staleness should an invalidation message be lost without a disconnect.
   */
  readonly localCacheMax?: number;
  readonly localCacheTtlMs?: number;
  /** Schema introspection (GraphiQL and codegen need it; some deployments turn it off). */
  readonly introspection: boolean;
  readonly limits: QueryLimits;
  readonly maxBodyBytes: number;
  /** Stack traces in error responses: only in development. */
  readonly development: boolean;
  /**
   * HS256 key of the bearer tokens (AUTH_SECRET, ≥ 32 bytes). Required when NODE_ENV=production;
   * elsewhere, when unset, each process makes a random one (tokens die with the process; logged).
   */
  readonly authSecret?: string;
  /** Lifetime of a bearer token in seconds (AUTH_TOKEN_TTL_SECONDS, default 3600). */
  readonly authTokenTtlSeconds?: number;
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  return {
    port: port(env.PORT),
    host: env.HOST || '127.0.0.1',
    databaseUrl: env.DATABASE_URL || undefined,
    redisUrl: env.REDIS_CLUSTER_NODES ? `redis+cluster://${env.REDIS_CLUSTER_NODES}` : env.REDIS_URL || 'redis://127.0.0.1:6379',
    cachePrefix: env.CACHE_PREFIX || 'catalog',
    cacheEnabled: flag('CACHE', env.CACHE, true),
    cacheLeases: flag('CACHE_LEASES', env.CACHE_LEASES, true),
    seedDemo: flag('SEED_DEMO', env.SEED_DEMO, true),
    logLevel: env.LOG_LEVEL || 'info',
    cacheTrace: flag('CACHE_TRACE', env.CACHE_TRACE, false),
    responseCache: flag('RESPONSE_CACHE', env.RESPONSE_CACHE, true),
    responseCachePatches: flag('RESPONSE_CACHE_PATCHES', env.RESPONSE_CACHE_PATCHES, true),
    responseCacheTtlSeconds: atMost('RESPONSE_CACHE_TTL_SECONDS', nonNegative('RESPONSE_CACHE_TTL_SECONDS', env.RESPONSE_CACHE_TTL_SECONDS, RESPONSE_MAX_TTL_SECONDS), RESPONSE_MAX_TTL_SECONDS),
    epochRefreshMs: positive('EPOCH_REFRESH_MS', env.EPOCH_REFRESH_MS, 5000),
    localCacheMax: nonNegative('LOCAL_CACHE_MAX', env.LOCAL_CACHE_MAX, 0),
    localCacheTtlMs: positive('LOCAL_CACHE_TTL_MS', env.LOCAL_CACHE_TTL_MS, 1000),
    introspection: flag('INTROSPECTION', env.INTROSPECTION, true),
    limits: {
      ...DEFAULT_LIMITS,
      maxDepth: positive('MAX_QUERY_DEPTH', env.MAX_QUERY_DEPTH, DEFAULT_LIMITS.maxDepth),
      maxCost: positive('MAX_QUERY_COST', env.MAX_QUERY_COST, DEFAULT_LIMITS.maxCost),
      maxAliases: positive('MAX_QUERY_ALIASES', env.MAX_QUERY_ALIASES, DEFAULT_LIMITS.maxAliases),
    },
    maxBodyBytes: positive('MAX_BODY_BYTES', env.MAX_BODY_BYTES, 1_000_000),
    development: env.NODE_ENV === 'development',
    authSecret: authSecret(env),
    authTokenTtlSeconds: positive('AUTH_TOKEN_TTL_SECONDS', env.AUTH_TOKEN_TTL_SECONDS, 3600),
  };
}

function authSecret(env: NodeJS.ProcessEnv): string | undefined {
  const value = env.AUTH_SECRET || undefined;
  if (value === undefined && env.NODE_ENV === 'production') {
    throw new TypeError('AUTH_SECRET is required when NODE_ENV=production (at least 32 bytes, e.g. `openssl rand -base64 48`)');
  }
  if (value !== undefined && Buffer.byteLength(value) < 32) {
    throw new TypeError(`AUTH_SECRET must be at least 32 bytes, got ${Buffer.byteLength(value)}`);
  }
  return value;
}

function port(value: string | undefined): number {
  if (value === undefined || value === '') return 4000;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new TypeError(`PORT must be an integer from 0 to 65535, got ${JSON.stringify(value)}`);
  return n;
}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  return n;
}

function nonNegative(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new TypeError(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  return n;
}

function atMost(name: string, n: number, max: number): number {
  if (n > max) throw new TypeError(`${name} must be at most ${max}, got ${n}`);
  return n;
}

function flag(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === '') return fallback;
  if (/^(1|true|on|yes)$/i.test(value)) return true;
  if (/^(0|false|off|no)$/i.test(value)) return false;
  throw new TypeError(`${name} must be on or off, got ${JSON.stringify(value)}`);
}
