// MongoDB store (STORE=mongo), through the official driver. Items live in the
// "items" collection of the database named in MONGO_URL (mongodb://host:27017/items;
// the driver's default, "test", when the URL names none), with the item id as _id.
//
// The store connects on the first operation, and again on the next one as long
// as that fails; once connected, the driver follows the server through restarts
// on its own. While the server is unreachable, operations fail after
// serverSelectionTimeoutMS (2 s here, unless MONGO_URL sets it): the app answers 503.
import {
  MongoClient,
  MongoError,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoOperationTimeoutError,
  MongoServerClosedError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
} from 'mongodb';
import { StoreUnavailableError } from './errors.js';

const silent = { info() {}, warn() {}, error() {} };

// Server error codes that mean "not now" rather than "wrong request": shutting
// down, stepping down, not primary, network trouble between members.
const TRANSIENT_CODES = new Set([6, 7, 89, 91, 189, 9001, 10107, 11600, 11602, 13435, 13436]);

function isUnavailable(err) {
  return err instanceof MongoNetworkError
    || err instanceof MongoServerSelectionError
    || err instanceof MongoNotConnectedError
    || err instanceof MongoTopologyClosedError
    || err instanceof MongoServerClosedError
    || err instanceof MongoOperationTimeoutError
    || (err instanceof MongoError && (TRANSIENT_CODES.has(err.code) || err.hasErrorLabel('ResetPool')));
}

async function attempt(operation) {
  try {
    return await operation();
  } catch (err) {
    if (isUnavailable(err)) throw new StoreUnavailableError('MongoDB is unavailable', { cause: err });
    throw err;
  }
}

const toItem = ({ _id, name, quantity, createdAt }) => ({ id: _id, name, quantity, createdAt });

export function createMongoStore({ url, log = silent, collection: collectionName = 'items' }) {
  const timeouts = /[?&]serverSelectionTimeoutMS=/i.test(url) ? {} : { serverSelectionTimeoutMS: 2000 };
  // Throws MongoParseError at once for a malformed URL: a configuration error.
  const client = new MongoClient(url, { appName: 'items-api', connectTimeoutMS: 2000, ...timeouts });
  const items = client.db().collection(collectionName);

  // The driver's own connect-on-first-use keeps a failed first connection
  // (every later operation: "Topology is closed", for good). Connecting
  // explicitly, and forgetting a failed attempt, makes the next operation retry.
  let connection = null;
  const connect = () => {
    connection ??= client.connect().catch((err) => {
      connection = null;
      throw err;
    });
    return connection;
  };
  const guard = (operation) => attempt(async () => {
    await connect();
    return operation();
  });

  // Log reachability changes once, not on every heartbeat.
  let state = 'connecting';
  client.on('serverHeartbeatSucceeded', () => {
    if (state !== 'up') log.info({ role: 'store' }, 'mongodb store: connected');
    state = 'up';
  });
  client.on('serverHeartbeatFailed', ({ failure }) => {
    if (state !== 'down') log.warn({ role: 'store', err: failure }, 'mongodb store: unreachable, reconnecting');
    state = 'down';
  });

  return {
    list: () => guard(async () => {
      const docs = await items.find({}, { sort: { createdAt: 1, _id: 1 } }).toArray();
      return docs.map(toItem);
    }),
    get: (id) => guard(async () => {
      const doc = await items.findOne({ _id: id });
      return doc ? toItem(doc) : null;
    }),
    create: (item) => guard(async () => {
      const { id, ...fields } = item;
      await items.insertOne({ _id: id, ...fields });
      return item;
    }),
    delete: (id) => guard(async () => {
      const { deletedCount } = await items.deleteOne({ _id: id });
      return deletedCount === 1;
    }),
    ping: () => guard(async () => {
      await client.db('admin').command({ ping: 1 });
    }),
    close: () => client.close(),
  };
}
