import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createMemoryStore } from '../src/store/memory.js';
import { checkStoreContract, postJson, start } from './support.js';

async function assertError(res, status, error, field) {
  assert.equal(res.status, status);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  const body = await res.json();
  assert.equal(body.error, error);
  assert.equal(typeof body.message, 'string');
  assert.equal(body.field, field);
  return body;
}

describe('health and readiness', () => {
  test('GET /healthz is ok without touching the store', async (t) => {
    const store = { ...createMemoryStore(), ping: async () => assert.fail('healthz must not ping') };
    const { app, url } = await start({ store });
    t.after(() => app.close());
    const res = await fetch(`${url}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
  });

  test('GET /readyz is ready when the store answers', async (t) => {
    const { app, url } = await start({ store: createMemoryStore() });
    t.after(() => app.close());
    const res = await fetch(`${url}/readyz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ready' });
  });

  test('GET /readyz is 503 when the store ping fails', async (t) => {
    const store = { ...createMemoryStore(), ping: async () => { throw new Error('connection refused'); } };
    const { app, url } = await start({ store });
    t.after(() => app.close());
    const res = await fetch(`${url}/readyz`);
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { status: 'not ready', reason: 'store unreachable' });
  });

  test('GET /readyz is 503 once shutdown has started', async (t) => {
    const { app, url } = await start({ store: createMemoryStore() });
    t.after(() => app.close());
    app.markShuttingDown();
    const res = await fetch(`${url}/readyz`);
    assert.equal(res.status, 503);
    assert.deepEqual(await res.json(), { status: 'not ready', reason: 'shutting down' });
    // Liveness is unaffected.
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
  });
});

describe('items CRUD', () => {
  let app;
  let url;
  before(async () => ({ app, url } = await start({ store: createMemoryStore() })));
  after(() => app.close());

  test('create, get, list and delete an item', async () => {
    const createRes = await postJson(`${url}/api/items`, { name: 'apples', quantity: 3 });
    assert.equal(createRes.status, 201);
    const created = await createRes.json();
    assert.match(created.id, /^[0-9a-f-]{36}$/);
    assert.equal(created.name, 'apples');
    assert.equal(created.quantity, 3);
    assert.ok(!Number.isNaN(Date.parse(created.createdAt)));

    const getRes = await fetch(`${url}/api/items/${created.id}`);
    assert.equal(getRes.status, 200);
    assert.deepEqual(await getRes.json(), created);

    const listRes = await fetch(`${url}/api/items`);
    assert.equal(listRes.status, 200);
    assert.deepEqual(await listRes.json(), [created]);

    const delRes = await fetch(`${url}/api/items/${created.id}`, { method: 'DELETE' });
    assert.equal(delRes.status, 204);
    assert.equal(await delRes.text(), '');

    await assertError(await fetch(`${url}/api/items/${created.id}`), 404, 'Not Found');
    assert.deepEqual(await (await fetch(`${url}/api/items`)).json(), []);
  });

  test('quantity defaults to 0', async () => {
    const res = await postJson(`${url}/api/items`, { name: 'pears' });
    assert.equal(res.status, 201);
    assert.equal((await res.json()).quantity, 0);
  });

  test('GET and DELETE of a missing item are 404', async () => {
    await assertError(await fetch(`${url}/api/items/missing`), 404, 'Not Found');
    await assertError(await fetch(`${url}/api/items/missing`, { method: 'DELETE' }), 404, 'Not Found');
  });
});

describe('errors', () => {
  let app;
  let url;
  before(async () => ({ app, url } = await start({ store: createMemoryStore(), bodyLimit: 1024 })));
  after(() => app.close());

  test('malformed JSON is 400', async () => {
    await assertError(await postJson(`${url}/api/items`, '{"name": '), 400, 'Bad Request');
  });

  test('empty JSON body is 400', async () => {
    await assertError(await postJson(`${url}/api/items`, ''), 400, 'Bad Request');
  });

  const invalid = [
    ['missing name', { quantity: 1 }, 'name'],
    ['empty name', { name: '' }, 'name'],
    ['name too long', { name: 'x'.repeat(101) }, 'name'],
    ['name not a string', { name: 42 }, 'name'],
    ['negative quantity', { name: 'a', quantity: -1 }, 'quantity'],
    ['fractional quantity', { name: 'a', quantity: 1.5 }, 'quantity'],
    ['quantity as a string', { name: 'a', quantity: '5' }, 'quantity'],
    ['extra property', { name: 'a', colour: 'red' }, 'colour'],
  ];
  for (const [label, body, field] of invalid) {
    test(`${label} is 400 naming "${field}"`, async () => {
      await assertError(await postJson(`${url}/api/items`, body), 400, 'Bad Request', field);
    });
  }

  test('a body that is not an object is 400', async () => {
    await assertError(await postJson(`${url}/api/items`, [1, 2]), 400, 'Bad Request');
  });

  test('a body over the limit is 413', async () => {
    await assertError(await postJson(`${url}/api/items`, { name: 'x'.repeat(2000) }), 413, 'Payload Too Large');
  });

  test('a non-JSON content type is 415', async () => {
    const res = await fetch(`${url}/api/items`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'name=apples',
    });
    await assertError(res, 415, 'Unsupported Media Type');
  });

  test('an unknown route is 404', async () => {
    const body = await assertError(await fetch(`${url}/nope`), 404, 'Not Found');
    assert.match(body.message, /GET \/nope/);
  });

  test('an unexpected failure is 500 without details', async (t) => {
    const store = { ...createMemoryStore(), list: async () => { throw new Error('secret connection string'); } };
    const broken = await start({ store });
    t.after(() => broken.app.close());
    const res = await fetch(`${broken.url}/api/items`);
    const body = await assertError(res, 500, 'Internal Server Error');
    assert.doesNotMatch(JSON.stringify(body), /secret|stack|at /);
  });
});

describe('closing', () => {
  test('a request in flight when close starts still succeeds', async () => {
    let entered;
    const inHandler = new Promise((resolve) => (entered = resolve));
    let release;
    const gate = new Promise((resolve) => (release = resolve));
    const store = {
      ...createMemoryStore(),
      list: async () => {
        entered();
        await gate;
        return [];
      },
    };
    const { app, url } = await start({ store });

    const pending = fetch(`${url}/api/items`);
    await inHandler;
    const closed = app.close();
    // Let the server stop listening before the handler is allowed to finish.
    while (app.server.listening) await new Promise(setImmediate);
    release();

    const res = await pending;
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), []);
    assert.equal(res.headers.get('connection'), 'close');
    await closed;
  });
});

test('the memory store keeps the store contract', async () => {
  await checkStoreContract(createMemoryStore());
});
