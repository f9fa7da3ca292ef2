import { createMemoryStore } from './memory.js';

// Every store implements the same async interface, so the app never knows
// which backend it talks to:
//
//   list()        -> Promise<Item[]>
//   get(id)       -> Promise<Item | null>        (null when missing)
//   create(item)  -> Promise<Item>               (item is complete: the app sets id and createdAt)
//   delete(id)    -> Promise<boolean>            (false when missing)
//   ping()        -> Promise<void>               (rejects when the backend is unreachable)
//   close()       -> Promise<void>               (releases connections; called once on shutdown)
//
// An Item is { id: string, name: string, quantity: number, createdAt: ISO-8601 string }.
// To add a backend (e.g. Redis, MongoDB), write a factory with this interface
// and register it below.
const factories = {
  memory: async () => createMemoryStore(),
};

export async function createStore(env = process.env) {
  const kind = env.STORE || 'memory';
  const factory = Object.hasOwn(factories, kind) ? factories[kind] : undefined;
  if (!factory) {
    throw new Error(`STORE must be one of: ${Object.keys(factories).join(', ')} (got "${kind}")`);
  }
  return factory(env);
}
