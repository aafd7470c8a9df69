// One change-feed mechanism for every kind of shared change (tenants, circuit breakers, …):
// a topic carries JSON messages stamped with the sending instance, receivers ignore their own,
// and a receiver is told to resynchronise whenever it may have missed messages.

/** A message as it travels: the payload plus the id of the instance that sent it. */
export interface Envelope<T> {
  from: string;
  msg: T;
}

export interface FeedHandlers<T> {
  /** A change made by another instance or process. */
  onMessage(msg: T): void;
  /** Messages may have been lost (reconnect, gap in a sequence): reload from the source of truth. */
  onResync?(): void;
}

export interface ChangeFeed<T> {
  /** Tells every other instance; best effort (a receiver that misses it resyncs). */
  publish(msg: T): void;
  /** Returns the unsubscribe function. */
  subscribe(handlers: FeedHandlers<T>): () => void;
}

/** A feed that goes nowhere: one instance with no shared state. */
export function localFeed<T>(): ChangeFeed<T> {
  return {
    publish: () => {},
    subscribe: () => () => {},
  };
}

/** Parses an envelope; undefined for anything malformed (the channel is not trusted). */
export function parseEnvelope<T>(text: string): Envelope<T> | undefined {
  try {
    const e = JSON.parse(text) as Envelope<T>;
    if (!e || typeof e !== 'object' || typeof e.from !== 'string' || e.msg === undefined) return undefined;
    return e;
  } catch {
    return undefined;
  }
}
