// The signal that a request's client went away (or that the gateway ended the request on
// shutdown), as the engine, the attempts and the transport read it: `aborted`, `reason` and
// abort listeners. An AbortSignal is one; ClientSignal is the same for one request without an
// AbortController and EventTarget (their event maps, listener records and option objects).
export type RequestSignal = Pick<AbortSignal, 'aborted' | 'reason' | 'addEventListener' | 'removeEventListener'>;

type Listener = NonNullable<Parameters<AbortSignal['addEventListener']>[1]>;

/** A RequestSignal that aborts once, calling each listener once; it holds one listener without an array. */
export class ClientSignal implements RequestSignal {
  aborted = false;
  reason: unknown = undefined;
  private one: Listener | undefined;
  private more: Listener[] | undefined;

  addEventListener(type: string, listener: Listener | null): void {
    if (type !== 'abort' || listener === null || this.aborted) return;
    if (this.one === undefined && this.more === undefined) {
      this.one = listener;
      return;
    }
    const all = (this.more ??= this.one === undefined ? [] : [this.one]);
    this.one = undefined;
    if (!all.includes(listener)) all.push(listener);
  }

  removeEventListener(type: string, listener: Listener | null): void {
    if (type !== 'abort') return;
    if (this.one === listener) this.one = undefined;
    else if (this.more !== undefined) {
      const at = this.more.indexOf(listener as Listener);
      if (at !== -1) this.more.splice(at, 1);
    }
  }

  /** Aborts with `reason` (an AbortError DOMException by default, as AbortController does); later calls do nothing. */
  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
    const listeners = this.more ?? (this.one === undefined ? [] : [this.one]);
    this.one = undefined;
    this.more = undefined;
    if (listeners.length === 0) return;
    const event = new Event('abort');
    for (const l of listeners) {
      try {
        if (typeof l === 'function') l.call(this, event);
        else l.handleEvent(event);
      } catch (err) {
        // As an EventTarget does: a failing listener neither stops the others nor the caller.
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }
}
