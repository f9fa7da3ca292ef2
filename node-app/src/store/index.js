import { createMemoryStore } from './memory.js';
import { readInt } from '../env.js';

// Every store implements the same async interface, so the app never knows
// which backend it talks to:
//
//   list()        -> Promise<Item[]>              (oldest first)
//   get(id)       -> Promise<Item | null>        (null when missing)
//   create(item)  -> Promise<Item>               (item is complete: the app sets id and createdAt)
//   delete(id)    -> Promise<boolean>            (false when missing)
//   ping()        -> Promise<void>               (rejects when the backend is unreachable)
//   close()       -> Promise<void>               (releases connections; called once on shutdown)
//
// An Item is { id: string, name: string, quantity: number, createdAt: ISO-8601 string }.
// A store that cannot reach its backend rejects with StoreUnavailableError (the
// app answers 503 and the client may retry); any other rejection is a bug (500).
// Stores never wait for a backend that is down: they fail within a few seconds,
// and their clients reconnect on their own when it comes back.
//
// To add a backend, write a factory with this interface and register it below.
// The factories are imported on demand, so a service that uses memory never
// loads a database driver.
const factories = {
  memory: async () => createMemoryStore(),
  redis: async (env, options) => {
    const { createRedisStore } = await import('./redis.js');
    const url = requireUrl(env, 'redis', 'REDIS_URL');
    return named('REDIS_URL', () => createRedisStore({ url, ...options }));
  },
  mongo: async (env, options) => {
    const { createMongoStore } = await import('./mongo.js');
    const url = requireUrl(env, 'mongo', 'MONGO_URL');
    return named('MONGO_URL', () => createMongoStore({ url, ...options }));
  },
};

export { StoreUnavailableError } from './errors.js';

// A driver's complaint about a malformed URL, prefixed with the variable's name.
function named(name, create) {
  try {
    return create();
  } catch (err) {
    throw new Error(`${name}: ${err.message}`, { cause: err });
  }
}

function requireUrl(env, kind, name) {
  const url = env[name];
  if (!url) throw new Error(`STORE=${kind} needs ${name}`);
  return url;
}

// `options.log` (optional) receives the backend's connection events: an object
// with pino-style info/warn/error methods.
export async function createStore(env = process.env, options = {}) {
  const kind = env.STORE || 'memory';
  const factory = Object.hasOwn(factories, kind) ? factories[kind] : undefined;
  if (!factory) {
    throw new Error(`STORE must be one of: ${Object.keys(factories).join(', ')} (got "${kind}")`);
  }
  return factory(env, options);
}

// The per-client rate limiter for /api routes: on when REDIS_URL is set and
// RATE_LIMIT_MAX is not 0, shared by every replica through Redis. Returns null
// when off. See createRedisRateLimiter in redis.js for what happens when Redis is down.
export async function createRateLimiter(env = process.env, options = {}) {
  const max = readInt(env, 'RATE_LIMIT_MAX', 100, 0, 1e9);
  const windowMs = readInt(env, 'RATE_LIMIT_WINDOW_MS', 60000, 1000, 86400000);
  if (!env.REDIS_URL || max === 0) return null;
  const { createRedisRateLimiter } = await import('./redis.js');
  return named('REDIS_URL', () => createRedisRateLimiter({ url: env.REDIS_URL, max, windowMs, ...options }));
}

