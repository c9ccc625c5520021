import { Cluster, Redis } from 'ioredis';
import { createRedisClient, parseClusterUrl } from '../../src/cache/redis-client.ts';
import { readConfig } from '../../src/server/config.ts';

describe('REDIS_URL naming a cluster', () => {
  it('parses redis+cluster:// node lists, with or without credentials', () => {
    expect(parseClusterUrl('redis+cluster://10.0.0.1:7000,redis-b:7001')).toEqual({
      nodes: [{ host: '10.0.0.1', port: 7000 }, { host: 'redis-b', port: 7001 }], username: undefined, password: undefined,
    });
    expect(parseClusterUrl('redis+cluster://app:s%40cret@[::1]:7000/')).toEqual({
      nodes: [{ host: '::1', port: 7000 }], username: 'app', password: 's@cret',
    });
    expect(parseClusterUrl('redis+cluster://:pw@h:1').password).toBe('pw');
    expect(() => parseClusterUrl('redis+cluster://h')).toThrow(/host:port, got "h"/);
    expect(() => parseClusterUrl('redis+cluster://')).toThrow(/names no cluster node/);
  });

  it('gives a Cluster for a cluster URL and a Redis otherwise, neither connected yet', () => {
    const cluster = createRedisClient('redis+cluster://127.0.0.1:7000,127.0.0.1:7001');
    const single = createRedisClient('redis://127.0.0.1:6379');
    expect(cluster).toBeInstanceOf(Cluster);
    expect(cluster.isCluster).toBe(true);
    expect(cluster.options).toMatchObject({ enableAutoPipelining: true, scaleReads: 'master', enableOfflineQueue: false, lazyConnect: true, enableReadyCheck: false });
    expect((cluster as Cluster).options.redisOptions).toMatchObject({ commandTimeout: 250, maxRetriesPerRequest: 0 });
    expect(single).toBeInstanceOf(Redis);
    expect([cluster.status, single.status]).toEqual(['wait', 'wait']);
    expect(() => createRedisClient('http://x')).toThrow(/redis\+cluster:\/\//);
  });

  it('takes REDIS_CLUSTER_NODES over REDIS_URL', () => {
    expect(readConfig({ REDIS_CLUSTER_NODES: 'a:7000,b:7001', REDIS_URL: 'redis://c:6379' }).redisUrl).toBe('redis+cluster://a:7000,b:7001');
    expect(readConfig({ REDIS_URL: 'redis+cluster://a:7000' }).redisUrl).toBe('redis+cluster://a:7000');
    expect(readConfig({}).redisUrl).toBe('redis://127.0.0.1:6379');
  });
});
