// The MongoDB store. Against a real server only when MONGO_URL is set (GitHub
// Actions runs a mongo service; MongoDB has no Debian package, so the kit's CI
// hosts cannot run one): otherwise those tests are reported as skipped, with the
// reason. The "unreachable" tests need no server and always run.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MongoClient } from 'mongodb';
import { StoreUnavailableError } from '../src/store/index.js';
import { createMongoStore } from '../src/store/mongo.js';
import { checkStoreContract, freePort, item, start } from './support.js';

const MONGO_URL = process.env.MONGO_URL;
const skip = MONGO_URL ? false : 'MongoDB tests not run on this host: set MONGO_URL';

describe('mongo store against MONGO_URL', () => {
  // Each test gets its own collection, dropped afterwards.
  let collections = 0;
  function freshStore(t) {
    const collection = `items_test_${process.pid}_${++collections}`;
    const store = createMongoStore({ url: MONGO_URL, collection });
    t.after(async () => {
      const client = new MongoClient(MONGO_URL);
      try {
        await client.db().collection(collection).drop().catch(() => {});
      } finally {
        await client.close();
        await store.close();
      }
    });
    return store;
  }

  test('create, get, list oldest first, delete', { skip }, async (t) => {
    const store = freshStore(t);
    await store.ping();
    await checkStoreContract(store);
  });

  test('a server-side error (duplicate id) is a bug (500), not an outage (503)', { skip }, async (t) => {
    const store = freshStore(t);
    const a = item('dup', '2026-01-01T00:00:00.000Z');
    await store.create(a);
    const err = await store.create(a).catch((e) => e);
    assert.ok(err instanceof Error);
    assert.ok(!(err instanceof StoreUnavailableError), `expected a server error, got ${err}`);
    assert.equal(err.code, 11000);
  });

  test('through the app: CRUD and readiness', { skip }, async (t) => {
    const { app, url } = await start({ store: freshStore(t) });
    t.after(() => app.close());
    assert.equal((await fetch(`${url}/readyz`)).status, 200);
    const created = await fetch(`${url}/api/items`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'in mongo', quantity: 5 }),
    });
    assert.equal(created.status, 201);
    const body = await created.json();
    assert.deepEqual(await (await fetch(`${url}/api/items/${body.id}`)).json(), body);
    assert.deepEqual(await (await fetch(`${url}/api/items`)).json(), [body]);
    assert.equal((await fetch(`${url}/api/items/${body.id}`, { method: 'DELETE' })).status, 204);
  });
});

describe('mongo store with MongoDB unreachable', () => {
  // Nothing listens on the port; the URL shortens server selection to keep the test fast.
  const unreachable = async () => `mongodb://127.0.0.1:${await freePort()}/items?serverSelectionTimeoutMS=300`;

  test('operations fail with StoreUnavailableError, without waiting long', async (t) => {
    const store = createMongoStore({ url: await unreachable() });
    t.after(() => store.close());
    const started = Date.now();
    await assert.rejects(store.ping(), StoreUnavailableError);
    await assert.rejects(store.get('x'), StoreUnavailableError);
    await assert.rejects(store.create(item('x', '2026-01-01T00:00:00.000Z')), StoreUnavailableError);
    assert.ok(Date.now() - started < 3000, 'each operation gives up after serverSelectionTimeoutMS');
  });

  test('a failed first connection is retried by the next operation, not kept', async (t) => {
    const store = createMongoStore({ url: await unreachable() });
    t.after(() => store.close());
    for (let i = 0; i < 3; i++) {
      const err = await store.ping().catch((e) => e);
      assert.ok(err instanceof StoreUnavailableError);
      // A new attempt to reach the server each time ("Server selection timed out"), never the
      // driver's "Topology is closed" that would last until the process restarts.
      assert.equal(err.cause?.name, 'MongoServerSelectionError', `attempt ${i + 1}: ${err.cause}`);
    }
  });

  test('the app answers 503 JSON and is not ready, and stays alive', async (t) => {
    const store = createMongoStore({ url: await unreachable() });
    const { app, url } = await start({ store });
    t.after(async () => {
      await app.close();
      await store.close();
    });
    const res = await fetch(`${url}/api/items`);
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), {
      error: 'Service Unavailable',
      message: 'The storage backend is unavailable; retry later',
    });
    const ready = await fetch(`${url}/readyz`);
    assert.equal(ready.status, 503);
    assert.deepEqual(await ready.json(), { status: 'not ready', reason: 'store unreachable' });
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
  });
});
