// Helpers shared by the test files (not a test file itself: package.json's test script runs test/*.test.js).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { buildApp } from '../src/app.js';

// A loopback port that was free a moment ago.
export async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

// Starts the app (buildApp's options: store, rateLimiter, ...) on a free port; returns it with its base URL.
export async function start(options) {
  const app = buildApp(options);
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, url: `http://127.0.0.1:${app.server.address().port}` };
}

export function postJson(url, body, headers = {}) {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export const item = (name, createdAt) => ({ id: `id-${name}`, name, quantity: 1, createdAt });

// What every store (memory, Redis, MongoDB) must do, on an empty store: create, get, list oldest
// first, delete (true once, then false).
export async function checkStoreContract(store) {
  assert.deepEqual(await store.list(), []);
  const b = item('b', '2026-01-02T00:00:00.000Z');
  const a = item('a', '2026-01-01T00:00:00.000Z');
  assert.deepEqual(await store.create(b), b);
  assert.deepEqual(await store.create(a), a);
  assert.deepEqual(await store.get(a.id), a);
  assert.equal(await store.get('missing'), null);
  assert.deepEqual(await store.list(), [a, b]);
  assert.equal(await store.delete(a.id), true);
  assert.equal(await store.delete(a.id), false);
  assert.deepEqual(await store.list(), [b]);
}
