import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { hostname } from 'node:os';
import Fastify from 'fastify';
import { StoreUnavailableError } from './store/index.js';

const itemSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    quantity: { type: 'integer' },
    createdAt: { type: 'string' },
  },
};

const newItemSchema = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 100 },
    quantity: { type: 'integer', minimum: 0, default: 0 },
  },
};

const idParams = {
  type: 'object',
  properties: { id: { type: 'string' } },
};

// Builds the Fastify app without listening, so tests can start it on any port.
// `logger` is passed to Fastify: false, true, or pino options ({ level: 'info' }).
// `rateLimiter` (optional, see store/index.js) limits each client on /api routes.
// `trustProxy` is Fastify's: the proxies whose X-Forwarded-For names the client
// (e.g. '127.0.0.1' or 'uniquelocal'). `instance` names this replica in the
// X-Served-By header of every response.
export function buildApp({
  store,
  logger = false,
  bodyLimit = 65536,
  rateLimiter = null,
  trustProxy = false,
  instance = hostname(),
} = {}) {
  if (!store) throw new Error('buildApp needs a store');

  const app = Fastify({
    logger,
    bodyLimit,
    trustProxy,
    // Requests that reach the server while it closes are still served; the
    // readiness probe, not a 503 on every route, tells load balancers to stop.
    return503OnClosing: false,
    // On close, drop idle keep-alive sockets but let in-flight requests finish.
    forceCloseConnections: 'idle',
    ajv: {
      customOptions: {
        // Fastify's defaults silently drop unknown properties and coerce types
        // ("5" -> 5); a JSON API should reject both.
        removeAdditional: false,
        coerceTypes: false,
      },
    },
  });

  // Only JSON bodies are accepted: anything else gets 415.
  app.removeContentTypeParser('text/plain');

  let shuttingDown = false;
  // Called by the server when a shutdown starts, so /readyz fails before the
  // server stops accepting connections. app.close() also sets it.
  app.decorate('markShuttingDown', () => {
    shuttingDown = true;
  });
  app.addHook('preClose', async () => {
    shuttingDown = true;
  });
  // Node only closes keep-alive sockets that are idle when close() starts; a
  // socket whose request was still running would then stay open until its
  // keep-alive timeout and stall the shutdown. Ask clients to reconnect instead.
  app.addHook('onSend', async (request, reply, payload) => {
    if (shuttingDown) reply.header('connection', 'close');
    reply.header('x-served-by', instance);
    return payload;
  });

  if (rateLimiter) {
    const windowS = Math.ceil(rateLimiter.windowMs / 1000);
    app.addHook('onRequest', async (request, reply) => {
      if (!request.url.startsWith('/api/')) return;
      const hit = await rateLimiter.hit(request.ip);
      if (!hit) return; // Redis unavailable: the limiter fails open
      const resetS = Math.ceil(hit.resetMs / 1000);
      reply.header('x-ratelimit-limit', hit.limit);
      reply.header('x-ratelimit-remaining', Math.max(0, hit.limit - hit.count));
      reply.header('x-ratelimit-reset', resetS);
      if (hit.count > hit.limit) {
        reply.header('retry-after', resetS);
        return sendError(reply, 429, `Rate limit of ${hit.limit} requests per ${windowS} s exceeded; retry in ${resetS} s`);
      }
    });
  }

  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) => {
    sendError(reply, 404, `Route ${request.method} ${request.url} not found`);
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (request, reply) => {
    if (shuttingDown) {
      return reply.code(503).send({ status: 'not ready', reason: 'shutting down' });
    }
    try {
      await store.ping();
    } catch (err) {
      request.log.warn({ err }, 'store ping failed');
      return reply.code(503).send({ status: 'not ready', reason: 'store unreachable' });
    }
    return { status: 'ready' };
  });

  app.get('/api/items', {
    schema: { response: { 200: { type: 'array', items: itemSchema } } },
  }, async () => store.list());

  app.post('/api/items', {
    schema: { body: newItemSchema, response: { 201: itemSchema } },
  }, async (request, reply) => {
    const item = {
      id: randomUUID(),
      name: request.body.name,
      quantity: request.body.quantity,
      createdAt: new Date().toISOString(),
    };
    const created = await store.create(item);
    return reply.code(201).send(created);
  });

  app.get('/api/items/:id', {
    schema: { params: idParams, response: { 200: itemSchema } },
  }, async (request, reply) => {
    const item = await store.get(request.params.id);
    if (!item) return sendError(reply, 404, `Item ${request.params.id} not found`);
    return item;
  });

  app.delete('/api/items/:id', {
    schema: { params: idParams },
  }, async (request, reply) => {
    const deleted = await store.delete(request.params.id);
    if (!deleted) return sendError(reply, 404, `Item ${request.params.id} not found`);
    return reply.code(204).send();
  });

  return app;
}

function sendError(reply, statusCode, message, field) {
  const body = { error: STATUS_CODES[statusCode] ?? 'Error', message };
  if (field !== undefined) body.field = field;
  return reply.code(statusCode).type('application/json').send(body);
}

function errorHandler(err, request, reply) {
  if (err.validation) {
    request.log.info({ err }, 'validation failed');
    return sendError(reply, 400, err.message, fieldOf(err.validation[0]));
  }

  // Client errors raised by Fastify itself (bad JSON, 413, 415, ...) carry a
  // safe message and a 4xx status code.
  const status = err.statusCode;
  if (status === 415) {
    request.log.info({ err }, 'unsupported media type');
    return sendError(reply, 415, 'Content-Type must be application/json');
  }
  if (status >= 400 && status < 500) {
    request.log.info({ err }, 'client error');
    return sendError(reply, status, err.message);
  }

  // The store's backend is down or restarting: the client may retry.
  if (err instanceof StoreUnavailableError) {
    request.log.warn({ err }, 'store unavailable');
    reply.header('retry-after', 1);
    return sendError(reply, 503, 'The storage backend is unavailable; retry later');
  }

  // Anything else is a bug: log the detail, return nothing of it.
  request.log.error({ err }, 'unhandled error');
  return sendError(reply, 500, 'Something went wrong');
}

// Turns an Ajv error into the name of the offending property, when there is one.
function fieldOf(error) {
  const params = error.params ?? {};
  if (params.missingProperty) return params.missingProperty;
  if (params.additionalProperty) return params.additionalProperty;
  const path = error.instancePath.split('/').slice(1).join('.');
  return path || undefined;
}
