// Redis, through node-redis: the items store (STORE=redis) and the per-client
// rate limiter (REDIS_URL). Both share how a client is set up:
//
// - connect() runs in the background and retries forever (backing off up to 2 s),
//   so the service starts, and stays up, while Redis is down or restarting;
// - the offline queue is off and every command has a timeout, so a request made
//   during an outage fails at once instead of waiting for the reconnection;
// - the 'error' event always has a listener (without one, Node would crash the
//   process), and connection changes are logged once, not on every retry.
import { createClient, ErrorReply } from 'redis';
import { StoreUnavailableError } from './errors.js';

const silent = { info() {}, warn() {}, error() {} };

function connect({ url, log = silent, role, commandTimeoutMs }) {
  const client = createClient({
    url,
    disableOfflineQueue: true,
    commandOptions: { timeout: commandTimeoutMs },
    socket: { connectTimeout: 2000 },
  });
  let state = 'connecting';
  client.on('ready', () => {
    log.info({ role }, `redis ${role}: connected`);
    state = 'up';
  });
  client.on('error', (err) => {
    if (state === 'down') return;
    log.warn({ role, err }, `redis ${role}: ${state === 'up' ? 'connection lost' : 'unreachable'}, reconnecting`);
    state = 'down';
  });
  // Resolves once connected; rejects only when close() interrupts it.
  client.connect().catch(() => {});
  return client;
}

async function disconnect(client) {
  if (!client.isOpen) return;
  if (!client.isReady) return client.destroy();
  try {
    await client.close();
  } catch {
    client.destroy();
  }
}

// An error reply from Redis (wrong type, script error) is a bug: 500. Anything
// else (offline, refused, timed out, socket closed) means Redis is unavailable.
function classify(err) {
  if (err instanceof ErrorReply) return err;
  return new StoreUnavailableError('Redis is unavailable', { cause: err });
}

async function guard(operation) {
  try {
    return await operation();
  } catch (err) {
    throw classify(err);
  }
}

// Items are JSON strings under PREFIX + 'item:' + id; a sorted set
// PREFIX + 'index' (score: createdAt in ms) keeps them in creation order.
export function createRedisStore({ url, log, prefix = 'items:', commandTimeoutMs = 2000 }) {
  const client = connect({ url, log, role: 'store', commandTimeoutMs });
  const itemKey = (id) => `${prefix}item:${id}`;
  const indexKey = `${prefix}index`;

  return {
    list: () => guard(async () => {
      const ids = await client.zRange(indexKey, 0, -1);
      if (ids.length === 0) return [];
      const values = await client.mGet(ids.map(itemKey));
      // An item deleted between the two reads is simply left out.
      return values.filter((value) => value !== null).map((value) => JSON.parse(value));
    }),
    get: (id) => guard(async () => {
      const value = await client.get(itemKey(id));
      return value === null ? null : JSON.parse(value);
    }),
    create: (item) => guard(async () => {
      await client.multi()
        .set(itemKey(item.id), JSON.stringify(item))
        .zAdd(indexKey, { score: Date.parse(item.createdAt), value: item.id })
        .exec();
      return item;
    }),
    delete: (id) => guard(async () => {
      const [deleted] = await client.multi().del(itemKey(id)).zRem(indexKey, id).exec();
      return deleted === 1;
    }),
    ping: () => guard(() => client.ping()),
    close: () => disconnect(client),
  };
}

// Fixed window per client: the first request creates PREFIX + clientId with a
// TTL of one window, each request increments it. One script, so the count and
// the expiry are set atomically, whichever replica the request reached.
const HIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return { count, ttl }`;

// hit(clientId) resolves to { limit, windowMs, count, resetMs }, or to null when
// Redis cannot answer: the limiter then fails open (requests are served without
// a limit, and a warning is logged once per outage), so a Redis outage never
// takes down routes that do not need Redis.
export function createRedisRateLimiter({ url, log = silent, max, windowMs, prefix = 'ratelimit:', commandTimeoutMs = 500 }) {
  const client = connect({ url, log, role: 'rate limiter', commandTimeoutMs });
  let failing = false;

  return {
    max,
    windowMs,
    async hit(clientId) {
      try {
        const [count, resetMs] = await client.eval(HIT_SCRIPT, {
          keys: [`${prefix}${clientId}`],
          arguments: [String(windowMs)],
        });
        failing = false;
        return { limit: max, windowMs, count: Number(count), resetMs: Number(resetMs) };
      } catch (err) {
        if (!failing) log.warn({ err }, 'rate limiter unavailable, requests are not limited until Redis answers');
        failing = true;
        return null;
      }
    },
    close: () => disconnect(client),
  };
}
