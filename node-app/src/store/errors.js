// The backend is unreachable (refused, timed out, restarting); the request may
// succeed later. `cause` holds the driver's error for the logs. Its own module,
// so the Redis and MongoDB stores need not import the store index that loads them.
export class StoreUnavailableError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}
