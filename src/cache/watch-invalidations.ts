import { subscriberFor, type RedisClient } from './redis-client.ts';
import type { LocalTier } from './local-tier.ts';

/**
 * Keeps a local tier coherent: a connection of its own subscribes to the invalidation channel and
 * drops every key a message names. The tier serves only while that subscription is known to hold:
 * it starts suspended, resumes once SUBSCRIBE is answered (every invalidation Redis runs after that
 * reaches us), and is emptied and suspended again the moment the connection errs, closes or starts
 * reconnecting — a message published meanwhile is lost, and so must be every copy it would drop.
 */
export async function watchInvalidations(redis: RedisClient, channel: string, tier: LocalTier): Promise<{ stop(): Promise<void> }> {
  // Resubscription is ours, on every 'ready': ioredis's own would not tell us when it took effect.
  const subscriber = subscriberFor(redis, { lazyConnect: true });
  let connection = 0; // which connection a pending SUBSCRIBE belongs to
  let stopped = false;

  let subscribed: Promise<void> = Promise.resolve();
  const lost = () => {
    connection++;
    tier.suspend();
  };
  subscriber.on('close', lost);
  subscriber.on('end', lost);
  subscriber.on('reconnecting', lost);
  subscriber.on('error', () => {
    lost();
    // An error that left the connection up: subscribe again rather than stay off until a reconnect.
    if (subscriber.status === 'ready' && !stopped) subscribed = subscribe();
  });
  subscriber.on('message', (_channel: string, message: string) => tier.evict(message.split(' ')));
  subscriber.on('ready', () => { subscribed = subscribe(); });

  // The tier's barrier: a PING on this connection is answered after every message Redis queued to
  // it before, and ioredis emits those messages before it resolves the PING. On a cluster the
  // messages of other nodes cross the cluster bus, which a PING does not wait for: none there.
  const sync = redis.isCluster ? undefined : () => subscriber.ping();

  async function subscribe(): Promise<void> {
    const mine = connection;
    try {
      await subscriber.subscribe(channel);
      if (mine === connection && !stopped) tier.resume(sync);
    } catch {
      // Dropped again: its 'close' suspended the tier and its next 'ready' retries. Still up (the
      // SUBSCRIBE timed out): retry here, or the tier would stay off for as long as the connection.
      if (mine === connection && !stopped && subscriber.status === 'ready') {
        setTimeout(() => { if (mine === connection && !stopped) subscribed = subscribe(); }, 1000).unref();
      }
    }
  }

  try {
    await subscriber.connect(); // 'ready' subscribes
    await subscribed; // the tier serves from the start when Redis is up
  } catch {
    // Redis is down: the tier stays suspended (pass-through) and the client keeps reconnecting.
  }
  return {
    async stop() {
      stopped = true;
      subscriber.disconnect(); // 'end' suspends (and empties) the tier
    },
  };
}
