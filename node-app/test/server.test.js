// Runs the real entry point (node src/server.js) as a child process.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const appDir = fileURLToPath(new URL('..', import.meta.url));

// Spawns the server and collects its JSON log lines and stderr.
function spawnServer(env = {}) {
  const child = spawn(process.execPath, ['src/server.js'], {
    cwd: appDir,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = [];
  const waiters = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      entry = { msg: line };
    }
    logs.push(entry);
    for (const w of [...waiters]) {
      if (w.match(entry)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(entry);
      }
    }
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal, stderr }));

  // Resolves with the first log entry (past or future) whose msg starts with `prefix`.
  function waitForLog(prefix) {
    const match = (entry) => typeof entry.msg === 'string' && entry.msg.startsWith(prefix);
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      waiters.push({ match, resolve });
      exited.then(({ code }) => reject(new Error(`server exited (${code}) before logging "${prefix}"`)));
    });
  }

  return { child, logs, exited, waitForLog };
}

async function startServer(env) {
  const server = spawnServer(env);
  const { msg } = await server.waitForLog('Server listening at ');
  server.url = msg.slice('Server listening at '.length);
  return server;
}

// Starts a POST whose body is sent in two parts, so the request stays in
// flight until `finish()` is called. Resolves `response` with { status, body }.
function slowPost(url, item) {
  const body = JSON.stringify(item);
  const req = http.request(`${url}/api/items`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
  });
  const response = new Promise((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
    });
  });
  req.write(body.slice(0, 5));
  return { req, response, finish: () => req.end(body.slice(5)) };
}

test('serves requests and exits 0 on SIGINT', async () => {
  const server = await startServer();
  const res = await fetch(`${server.url}/healthz`);
  assert.equal(res.status, 200);
  server.child.kill('SIGINT');
  const { code } = await server.exited;
  assert.equal(code, 0);
  assert.ok(server.logs.some((l) => l.msg === 'shutdown complete'));
});

test('SIGTERM: readiness goes off, in-flight request completes, exit 0', async () => {
  const server = await startServer({ SHUTDOWN_DELAY_MS: '1000' });
  const slow = slowPost(server.url, { name: 'in flight', quantity: 1 });
  await server.waitForLog('incoming request'); // the server has the request

  server.child.kill('SIGTERM');
  await server.waitForLog('shutdown started');

  // During SHUTDOWN_DELAY_MS the server still accepts connections but is not ready.
  const ready = await fetch(`${server.url}/readyz`);
  assert.equal(ready.status, 503);
  assert.deepEqual(await ready.json(), { status: 'not ready', reason: 'shutting down' });

  // A second signal is ignored rather than crashing or restarting the shutdown.
  server.child.kill('SIGTERM');
  await server.waitForLog('shutdown already in progress');

  // The server is now closing; the request that was in flight still completes.
  await server.waitForLog('closing server');
  slow.finish();
  const { status, body } = await slow.response;
  assert.equal(status, 201);
  assert.equal(JSON.parse(body).name, 'in flight');

  const { code } = await server.exited;
  assert.equal(code, 0);
  assert.ok(server.logs.some((l) => l.msg === 'shutdown complete'));
});

test('exits 1 when shutdown exceeds SHUTDOWN_TIMEOUT_MS', async () => {
  const server = await startServer({ SHUTDOWN_TIMEOUT_MS: '300' });
  const slow = slowPost(server.url, { name: 'never finished' });
  slow.response.catch(() => {}); // the socket dies with the server
  await server.waitForLog('incoming request');

  server.child.kill('SIGTERM');
  const { code } = await server.exited;
  assert.equal(code, 1);
  assert.ok(server.logs.some((l) => l.msg === 'shutdown timed out'));
  slow.req.destroy();
});

const badConfigs = [
  [{ PORT: 'abc' }, /PORT must be an integer/],
  [{ PORT: '70000' }, /PORT must be an integer/],
  [{ BODY_LIMIT_BYTES: '-5' }, /BODY_LIMIT_BYTES must be an integer/],
  [{ SHUTDOWN_TIMEOUT_MS: '1.5' }, /SHUTDOWN_TIMEOUT_MS must be an integer/],
  [{ SHUTDOWN_DELAY_MS: 'soon' }, /SHUTDOWN_DELAY_MS must be an integer/],
  [{ LOG_LEVEL: 'loud' }, /LOG_LEVEL must be one of/],
  [{ STORE: 'nosuchdb' }, /STORE must be one of: memory/],
];
for (const [env, expected] of badConfigs) {
  test(`refuses to start with ${JSON.stringify(env)}`, async () => {
    const { code, stderr } = await spawnServer(env).exited;
    assert.equal(code, 1);
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, `expected one line on stderr, got:\n${stderr}`);
    assert.match(lines[0], expected);
  });
}
