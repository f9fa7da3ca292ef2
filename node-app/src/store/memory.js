// In-memory store: data lives in this process only and is lost on restart.
// Good for development, tests and single-instance demos.
export function createMemoryStore() {
  const items = new Map();

  return {
    // Oldest first, like the Redis and MongoDB stores (ties by id).
    async list() {
      const byAge = (a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id);
      return [...items.values()].sort(byAge);
    },
    async get(id) {
      return items.get(id) ?? null;
    },
    async create(item) {
      items.set(item.id, item);
      return item;
    },
    async delete(id) {
      return items.delete(id);
    },
    async ping() {},
    async close() {},
  };
}
