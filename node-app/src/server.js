// Entry point: reads the config from the environment, builds the store and
// the app, listens, and shuts down gracefully on SIGTERM / SIGINT.
//
// Environment variables (all optional):
//   PORT                 port to listen on (default 3000; 0 picks a free port)
//   HOST                 address to bind (default 0.0.0.0)
//   LOG_LEVEL            fatal|error|warn|info|debug|trace|silent (default info)
//   STORE                storage backend: memory (default), redis or mongo
//   REDIS_URL            redis://host:6379: the store when STORE=redis, and the
//                        per-client rate limiter on /api routes whenever it is set
//   MONGO_URL            mongodb://host:27017/items: the store when STORE=mongo
//   RATE_LIMIT_MAX       requests per client per window with REDIS_URL (default 100;
//                        0 turns the limiter off)
//   RATE_LIMIT_WINDOW_MS the rate limiter's window (default 60000)
//   TRUST_PROXY          the reverse proxies whose X-Forwarded-For names the client
//                        (the rate limiter's key): comma-separated addresses, CIDRs or
//                        loopback|linklocal|uniquelocal, or true for any (default: none,
//                        the client is the socket's peer)
//   BODY_LIMIT_BYTES     largest accepted request body, larger gets 413 (default 65536)
//   SHUTDOWN_DELAY_MS    on a signal, how long /readyz reports "not ready" while the
//                        server still accepts requests, so load balancers can
//                        stop sending traffic (default 0)
//   SHUTDOWN_TIMEOUT_MS  the whole shutdown must finish within this time, or the
//                        process exits with code 1 (default 10000)
import { buildApp } from './app.js';
import { readInt } from './env.js';
import { createRateLimiter, createStore } from './store/index.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout's limit


function readConfig(env) {
  const config = {
    port: readInt(env, 'PORT', 3000, 0, 65535),
    host: env.HOST || '0.0.0.0',
    logLevel: env.LOG_LEVEL || 'info',
    bodyLimit: readInt(env, 'BODY_LIMIT_BYTES', 65536, 1, 2 ** 30),
    shutdownDelayMs: readInt(env, 'SHUTDOWN_DELAY_MS', 0, 0, MAX_TIMER_MS),
    shutdownTimeoutMs: readInt(env, 'SHUTDOWN_TIMEOUT_MS', 10000, 1, MAX_TIMER_MS),
  };
  if (!LOG_LEVELS.includes(config.logLevel)) {
    throw new Error(`LOG_LEVEL must be one of: ${LOG_LEVELS.join(', ')} (got "${config.logLevel}")`);
  }
  if (config.shutdownDelayMs >= config.shutdownTimeoutMs) {
    throw new Error('SHUTDOWN_DELAY_MS must be less than SHUTDOWN_TIMEOUT_MS');
  }
  config.trustProxy = readTrustProxy(env.TRUST_PROXY);
  return config;
}

// Fastify's trustProxy: false, true, or a comma-separated list of addresses.
// Fastify 5 ignores hop counts (it cannot tell a proxy from a client by counting),
// so a number is refused rather than silently trusting nothing.
function readTrustProxy(raw) {
  const value = (raw ?? '').trim();
  if (value === '' || value === 'false') return false;
  if (value === 'true') return true;
  if (/^\d+$/.test(value)) {
    throw new Error(`TRUST_PROXY takes the proxies' addresses or CIDRs (e.g. uniquelocal), not a hop count (got "${value}")`);
  }
  return value;
}

async function main() {
  let config;
  let store;
  let rateLimiter;
  // The backends connect in the background and report to the app's logger,
  // which exists once the app is built (a few lines below); until then their
  // messages wait.
  let app;
  const early = [];
  const forward = (level) => (...args) => (app ? app.log[level](...args) : early.push([level, args]));
  const log = { info: forward('info'), warn: forward('warn'), error: forward('error') };
  try {
    config = readConfig(process.env);
    store = await createStore(process.env, { log });
    rateLimiter = await createRateLimiter(process.env, { log });
  } catch (err) {
    // A configuration mistake: one readable line, no stack trace.
    console.error(`error: ${err.message}`);
    process.exit(1);
  }

  app = buildApp({
    store,
    rateLimiter,
    logger: { level: config.logLevel },
    bodyLimit: config.bodyLimit,
    trustProxy: config.trustProxy,
  });
  for (const [level, args] of early.splice(0)) app.log[level](...args);

  let shuttingDown = false;
  async function shutdown(signal) {
    if (shuttingDown) {
      app.log.warn({ signal }, 'shutdown already in progress');
      return;
    }
    shuttingDown = true;
    app.log.info({ signal, delayMs: config.shutdownDelayMs }, 'shutdown started, readiness off');
    app.markShuttingDown();

    const timer = setTimeout(() => {
      app.log.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out');
      process.exit(1);
    }, config.shutdownTimeoutMs);

    try {
      await new Promise((resolve) => setTimeout(resolve, config.shutdownDelayMs));
      app.log.info('closing server, waiting for in-flight requests');
      await app.close();
      await Promise.all([store.close(), rateLimiter?.close()]);
      clearTimeout(timer);
      app.log.info('shutdown complete');
      process.exit(0);
    } catch (err) {
      app.log.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  }
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);

  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    app.log.fatal({ err }, 'could not start server');
    process.exit(1);
  }
}

await main();
