// The Redis store and the rate limiter, against a real redis-server started on a
// free loopback port. redis-server must be on PATH (Debian: apt-get install
// redis-server): these tests fail, never skip, when it is missing.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { StoreUnavailableError } from '../src/store/index.js';
import { createMemoryStore } from '../src/store/memory.js';
import { createRedisRateLimiter, createRedisStore } from '../src/store/redis.js';
import { checkStoreContract, freePort, postJson, start } from './support.js';

const appDir = fileURLToPath(new URL('..', import.meta.url));

// Starts redis-server in the foreground, persisting to `dir` (append-only file,
// like the compose stack), and resolves once it accepts connections.
async function startRedis(port, dir) {
  const child = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--appendonly', 'yes', '--save', '', '--daemonize', 'no',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const ready = new Promise((resolve, reject) => {
    child.on('error', (err) => reject(err.code === 'ENOENT'
      ? new Error('redis-server is not on PATH: install it (Debian: apt-get install redis-server); the Redis tests need a real server and do not skip')
      : err));
    child.on('exit', (code) => reject(new Error(`redis-server exited with ${code} before it was ready:\n${output}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      output += `${line}\n`;
      if (/Ready to accept connections/.test(line)) resolve();
    });
  });
  await ready;
  return {
    url: `redis://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM'); // redis-server flushes the append-only file and exits
      await exited;
    },
  };
}

async function eventually(check, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

// Everything but the configuration errors needs the server; if it cannot start, these fail (never skip).
describe('against a real redis-server', () => {
  let redis;
  let dataDir;
  let prefixes = 0;
  // Each test works under its own key prefix, so they share one server.
  const prefix = () => `test${++prefixes}:`;

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'items-redis-'));
    redis = await startRedis(await freePort(), dataDir);
  });
  after(async () => {
    await redis?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  describe('redis store', () => {
    test('create, get, list oldest first, delete', async (t) => {
      const store = createRedisStore({ url: redis.url, prefix: prefix() });
      t.after(() => store.close());
      await eventually(() => store.ping());
      await checkStoreContract(store);
    });

    test('an error reply from Redis is a bug (500), not an outage (503)', async (t) => {
      const p = prefix();
      const store = createRedisStore({ url: redis.url, prefix: p });
      const raw = createClient({ url: redis.url });
      t.after(() => Promise.all([store.close(), raw.close()]));
      await raw.connect();
      // The index key holds a string, so ZRANGE on it fails with WRONGTYPE.
      await raw.set(`${p}index`, 'not a sorted set');
      await eventually(() => store.ping());
      const err = await store.list().catch((e) => e);
      assert.ok(err instanceof Error);
      assert.ok(!(err instanceof StoreUnavailableError), `expected an error reply, got ${err}`);
      assert.match(err.message, /WRONGTYPE/);
    });

    test('unreachable at start: fails fast with StoreUnavailableError, connects when Redis appears', async (t) => {
      const port = await freePort();
      const store = createRedisStore({ url: `redis://127.0.0.1:${port}`, prefix: prefix() });
      t.after(() => store.close());
      const started = Date.now();
      await assert.rejects(store.ping(), StoreUnavailableError);
      await assert.rejects(store.get('x'), StoreUnavailableError);
      assert.ok(Date.now() - started < 1000, 'requests must not wait for a reconnection');

      const dir = mkdtempSync(join(tmpdir(), 'items-redis-late-'));
      const late = await startRedis(port, dir);
      t.after(async () => {
        await late.stop();
        rmSync(dir, { recursive: true, force: true });
      });
      await eventually(() => store.ping());
      assert.equal(await store.get('x'), null);
    });

    test('Redis restart: 503 JSON during the outage, readiness and data back after', async (t) => {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), 'items-redis-restart-'));
      let server = await startRedis(port, dir);
      const store = createRedisStore({ url: server.url, prefix: prefix() });
      const { app, url } = await start({ store });
      t.after(async () => {
        await app.close();
        await store.close();
        await server.stop();
        rmSync(dir, { recursive: true, force: true });
      });
      await eventually(() => store.ping());
      const created = await (await postJson(`${url}/api/items`, { name: 'kept' })).json();

      await server.stop();
      const res = await fetch(`${url}/api/items/${created.id}`);
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '1');
      assert.match(res.headers.get('content-type'), /^application\/json/);
      assert.deepEqual(await res.json(), {
        error: 'Service Unavailable',
        message: 'The storage backend is unavailable; retry later',
      });
      assert.equal((await postJson(`${url}/api/items`, { name: 'lost' })).status, 503);
      const notReady = await fetch(`${url}/readyz`);
      assert.equal(notReady.status, 503);
      assert.deepEqual(await notReady.json(), { status: 'not ready', reason: 'store unreachable' });
      assert.equal((await fetch(`${url}/healthz`)).status, 200, 'liveness does not depend on Redis');

      server = await startRedis(port, dir);
      await eventually(async () => assert.equal((await fetch(`${url}/readyz`)).status, 200));
      const back = await fetch(`${url}/api/items/${created.id}`);
      assert.equal(back.status, 200);
      assert.deepEqual(await back.json(), created);
    });
  });

  describe('rate limiter', () => {
    test('limits each client per window: headers, 429 with Retry-After, reset', async (t) => {
      const rateLimiter = createRedisRateLimiter({ url: redis.url, prefix: prefix(), max: 3, windowMs: 300 });
      const { app, url } = await start({ store: createMemoryStore(), rateLimiter });
      t.after(async () => {
        await app.close();
        await rateLimiter.close();
      });
      await eventually(async () => assert.ok(await rateLimiter.hit('warm-up')));

      for (const remaining of ['2', '1', '0']) {
        const res = await fetch(`${url}/api/items`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('x-ratelimit-limit'), '3');
        assert.equal(res.headers.get('x-ratelimit-remaining'), remaining);
        assert.equal(res.headers.get('x-ratelimit-reset'), '1');
      }
      const limited = await fetch(`${url}/api/items`);
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('retry-after'), '1');
      assert.equal(limited.headers.get('x-ratelimit-remaining'), '0');
      const body = await limited.json();
      assert.equal(body.error, 'Too Many Requests');
      assert.match(body.message, /3 requests per 1 s/); // the window, rounded up to seconds

      // Health and readiness are never limited.
      const health = await fetch(`${url}/healthz`);
      assert.equal(health.status, 200);
      assert.equal(health.headers.get('x-ratelimit-limit'), null);

      await new Promise((resolve) => setTimeout(resolve, 350));
      assert.equal((await fetch(`${url}/api/items`)).status, 200, 'a new window starts after the reset');
    });

    test('one budget per client across replicas; clients told apart behind a proxy', async (t) => {
      const p = prefix();
      const limiterA = createRedisRateLimiter({ url: redis.url, prefix: p, max: 2, windowMs: 60000 });
      const limiterB = createRedisRateLimiter({ url: redis.url, prefix: p, max: 2, windowMs: 60000 });
      const store = createMemoryStore();
      const a = await start({ store, rateLimiter: limiterA, trustProxy: '127.0.0.1', instance: 'replica-a' });
      const b = await start({ store, rateLimiter: limiterB, trustProxy: '127.0.0.1', instance: 'replica-b' });
      t.after(async () => {
        await Promise.all([a.app.close(), b.app.close()]);
        await Promise.all([limiterA.close(), limiterB.close()]);
      });
      await eventually(async () => assert.ok((await limiterA.hit('warm-up')) && (await limiterB.hit('warm-up'))));

      const from = (client) => ({ headers: { 'x-forwarded-for': client } });
      const first = await fetch(`${a.url}/api/items`, from('203.0.113.7'));
      assert.equal(first.headers.get('x-served-by'), 'replica-a');
      const second = await fetch(`${b.url}/api/items`, from('203.0.113.7'));
      assert.equal(second.headers.get('x-served-by'), 'replica-b');
      assert.equal(second.headers.get('x-ratelimit-remaining'), '0');
      assert.equal((await fetch(`${a.url}/api/items`, from('203.0.113.7'))).status, 429);
      // Another client has its own budget.
      assert.equal((await fetch(`${b.url}/api/items`, from('203.0.113.8'))).status, 200);
    });

    test('fails open when Redis is unreachable: no limit, no delay', async (t) => {
      const warnings = [];
      const log = { info() {}, warn: (obj, msg) => warnings.push(msg), error() {} };
      const rateLimiter = createRedisRateLimiter({ url: `redis://127.0.0.1:${await freePort()}`, log, max: 1, windowMs: 60000 });
      const { app, url } = await start({ store: createMemoryStore(), rateLimiter });
      t.after(async () => {
        await app.close();
        await rateLimiter.close();
      });
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${url}/api/items`);
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('x-ratelimit-limit'), null);
      }
      assert.equal(warnings.filter((m) => /rate limiter unavailable/.test(m)).length, 1, 'one warning per outage');
    });
  });

  describe('server with STORE=redis', () => {
    // Starts `node src/server.js` and resolves with its URL, the child and its exit.
    async function spawnServer(env) {
      const child = spawn(process.execPath, ['src/server.js'], {
        cwd: appDir,
        env: { PATH: process.env.PATH, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
      const exited = once(child, 'exit').then(([code]) => ({ code, stderr }));
      const url = await new Promise((resolve, reject) => {
        createInterface({ input: child.stdout }).on('line', (line) => {
          const { msg } = JSON.parse(line);
          if (msg.startsWith('Server listening at ')) resolve(msg.slice('Server listening at '.length));
        });
        exited.then(({ code }) => reject(new Error(`server exited (${code}): ${stderr}`)));
      });
      return { child, url, exited };
    }

    test('stores in Redis, limits per client, names its host, exits 0 on SIGTERM', async () => {
      const server = await spawnServer({ STORE: 'redis', REDIS_URL: redis.url, RATE_LIMIT_MAX: '3', TRUST_PROXY: 'loopback' });
      await eventually(async () => assert.equal((await fetch(`${server.url}/readyz`)).status, 200));

      const created = await postJson(`${server.url}/api/items`, { name: 'from server' });
      assert.equal(created.status, 201);
      assert.equal(created.headers.get('x-served-by'), hostname());
      const { id } = await created.json();
      // The item is in Redis under the store's default prefix, where another replica would find it.
      const store = createRedisStore({ url: redis.url, prefix: 'items:' });
      await eventually(() => store.ping());
      assert.equal((await store.get(id)).name, 'from server');
      await store.close();

      assert.equal((await fetch(`${server.url}/api/items/${id}`)).status, 200);
      assert.equal((await fetch(`${server.url}/api/items`)).status, 200);
      const limited = await fetch(`${server.url}/api/items`);
      assert.equal(limited.status, 429);
      assert.ok(Number(limited.headers.get('retry-after')) > 0);

      server.child.kill('SIGTERM');
      assert.equal((await server.exited).code, 0);
    });
  });
});

describe('server configuration errors', { concurrency: true }, () => {
  const badConfigs = [
    [{ STORE: 'redis' }, /^error: STORE=redis needs REDIS_URL$/],
    [{ STORE: 'redis', REDIS_URL: 'http://localhost' }, /^error: REDIS_URL: .*redis/],
    [{ STORE: 'mongo' }, /^error: STORE=mongo needs MONGO_URL$/],
    [{ STORE: 'mongo', MONGO_URL: 'localhost:27017' }, /^error: MONGO_URL: /],
    [{ REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_MAX: 'many' }, /^error: RATE_LIMIT_MAX must be an integer/],
    [{ REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_WINDOW_MS: '10' }, /^error: RATE_LIMIT_WINDOW_MS must be an integer/],
    [{ TRUST_PROXY: '1' }, /^error: TRUST_PROXY takes the proxies' addresses/],
  ];
  for (const [env, expected] of badConfigs) {
    test(`refuses to start with ${JSON.stringify(env)}`, async () => {
      const child = spawn(process.execPath, ['src/server.js'], {
        cwd: appDir,
        env: { PATH: process.env.PATH, PORT: '0', ...env },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
      const [code] = await once(child, 'exit');
      assert.equal(code, 1);
      assert.match(stderr.trim(), expected);
      assert.equal(stderr.trim().split('\n').length, 1, `expected one line on stderr, got:\n${stderr}`);
    });
  }
});
