import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import Fastify from 'fastify';

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
export function buildApp({ store, logger = false, bodyLimit = 65536 } = {}) {
  if (!store) throw new Error('buildApp needs a store');

  const app = Fastify({
    logger,
    bodyLimit,
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
    return payload;
  });

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

  // Anything else is a bug or an outage: log the detail, return nothing of it.
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
