// Requests in flight to one provider, capped. Below the cap a request takes a slot at once;
// at the cap it waits, in arrival order, at most `queue_timeout_ms` for a slot to free, then
// gets 503 `overloaded` with Retry-After. Nothing waits without bound or without a sign: the
// connection pool behind the gate is sized so that every slot has a connection (or an HTTP/2
// stream) ready, and the pool itself never queues.
import { GatewayError } from '../core/errors.js';
import type { RequestSignal } from '../core/request-signal.js';

/** One request's hold on a provider slot; `release` is idempotent. */
export class Slot {
  private released = false;
  /** Set by whoever takes over the release (a stream's relay, which ends after the attempt). */
  handedOver = false;
  constructor(private readonly gate: InFlightGate) {}
  release(): void {
    if (this.released) return;
    this.released = true;
    this.gate.free();
  }
}

interface Waiter {
  resolve(slot: Slot): void;
  reject(err: unknown): void;
  timer: NodeJS.Timeout;
  signal: RequestSignal;
  onAbort: () => void;
}

export class InFlightGate {
  private count = 0;
  private readonly waiters: Waiter[] = [];
  private head = 0;

  constructor(
    readonly providerId: string,
    readonly limit: number,
    readonly waitMs: number,
    private readonly onChange?: (inFlight: number) => void,
  ) {}

  get inFlight(): number {
    return this.count;
  }

  get waiting(): number {
    return this.waiters.length - this.head;
  }

  /** A slot now, or undefined at the cap. */
  tryAcquire(): Slot | undefined {
    if (this.count >= this.limit || this.waiting > 0) return undefined;
    this.count++;
    this.onChange?.(this.count);
    return new Slot(this);
  }

  /** A slot now, or within `waitMs`; else 503 `overloaded`. An abort of `signal` rejects with its reason. */
  acquire(signal: RequestSignal): Promise<Slot> {
    const now = this.tryAcquire();
    if (now) return Promise.resolve(now);
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise<Slot>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        timer: setTimeout(() => {
          this.remove(waiter);
          reject(this.overloaded());
        }, this.waitMs),
        onAbort: () => {
          this.remove(waiter);
          clearTimeout(waiter.timer);
          reject(signal.reason);
        },
      };
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Called by Slot.release: the slot goes to the longest waiter, else back to the pool. */
  free(): void {
    if (this.head < this.waiters.length) {
      const w = this.waiters[this.head];
      this.waiters[this.head] = undefined as unknown as Waiter;
      this.head++;
      this.compact();
      clearTimeout(w.timer);
      w.signal.removeEventListener('abort', w.onAbort);
      w.resolve(new Slot(this));
      return;
    }
    this.count--;
    this.onChange?.(this.count);
  }

  private remove(w: Waiter): void {
    w.signal.removeEventListener('abort', w.onAbort);
    const i = this.waiters.indexOf(w, this.head);
    if (i === -1) return;
    this.waiters.splice(i, 1);
    this.compact();
  }

  private compact(): void {
    if (this.head === this.waiters.length) {
      this.waiters.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.waiters.length) {
      this.waiters.splice(0, this.head);
      this.head = 0;
    }
  }

  private overloaded(): GatewayError {
    return new GatewayError(
      'overloaded',
      `The provider (${this.providerId}) already has ${this.count} requests in flight, its limit (max_in_flight), and none finished within ${this.waitMs} ms. Retry after the time in Retry-After; nothing was charged.`,
      { retryAfterS: 1, retryable: true },
    );
  }
}
