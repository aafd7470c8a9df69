// What every request shares, whichever path serves it (Fastify's routes or the direct lane):
// its id, the admission of inference requests (shutdown, the in-flight bound, event-loop lag,
// the usage queue), and the metrics and trace written when its response closes.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { GatewayError } from '../core/errors.js';
import type { Gateway } from '../gateway.js';

const NO_LABELS: readonly string[] = [];
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The x-request-id a response carries: the client's own when it is a plausible id, else ours. */
export function echoedRequestId(given: string | string[] | undefined, id: string): string {
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : id;
}

export class RequestGate {
  private readonly idStem = randomBytes(12).toString('base64url');
  private idCounter = 0;
  private inFlight = 0;
  /** Event-loop lag as a smoothed drift of a 100 ms timer: one long pause must not shed traffic for long. */
  private lagMs = 0;
  private readonly lagTimer: NodeJS.Timeout;
  /** true once shutdown began: readiness fails and new requests get 503 */
  readonly draining = { value: false };

  constructor(private readonly gw: Gateway) {
    let expected = performance.now() + 100;
    this.lagTimer = setInterval(() => {
      const now = performance.now();
      this.lagMs = this.lagMs * 0.7 + Math.max(0, now - expected) * 0.3;
      expected = now + 100;
    }, 100);
    this.lagTimer.unref();
  }

  /**
   * Always our own id: it keys billing and usage rows, so a client cannot make two requests share
   * it. A random per-process stem plus a counter is unique across instances and cheaper than a UUID.
   */
  nextId(): string {
    return `req_${this.idStem}${(this.idCounter++).toString(36)}`;
  }

  /** Why an inference request cannot start now (shutdown or overload), or undefined when it can. */
  refusal(): GatewayError | undefined {
    if (this.draining.value) return new GatewayError('overloaded', 'The gateway is shutting down; retry on another instance.', { retryAfterS: 1 });
    const server = this.gw.config.server;
    if (this.inFlight >= server.max_in_flight || this.lagMs > server.max_event_loop_lag_ms || this.gw.usage.full) {
      return new GatewayError('overloaded', 'The gateway is overloaded right now. Retry after a short wait.', { retryAfterS: 1 });
    }
    return undefined;
  }

  /**
   * Resolves when an admitted inference request may start, or is undefined when it may at once:
   * while the store is behind the requests (UsageWriter.behind), new ones wait until it caught
   * up, at most a tenth of a second at a time, so that a core the requests keep busy leaves the
   * store worker the time it needs instead of the usage queue growing as long as the load lasts.
   */
  held(): Promise<void> | undefined {
    const usage = this.gw.usage;
    if (!usage.behind) return undefined;
    this.gw.metrics.held.inc(NO_LABELS);
    return usage.caughtUp();
  }

  /** An inference request takes an in-flight slot (it gives it back in closed()). */
  enter(): void {
    this.inFlight++;
    this.gw.metrics.inFlight.set(this.inFlight);
  }

  /** Each inference request is a trace when OpenTelemetry is configured. */
  begin(id: string, method: string): void {
    this.gw.telemetry?.begin(id, method, Date.now());
  }

  /**
   * A response closed: the request and latency metrics, the trace's end, and the in-flight slot
   * when the request took one. `route` is the matched route's pattern, `body` the parsed request.
   */
  closed(entered: boolean, id: string, route: string, body: unknown, status: number, startedMs: number, streamed: boolean): void {
    const gw = this.gw;
    if (entered) {
      this.inFlight--;
      gw.metrics.inFlight.set(this.inFlight);
    }
    const model = this.modelLabel(body);
    gw.metrics.requests.inc([route, model, String(status)]);
    gw.metrics.latency.observe([route, model, streamed ? 'true' : 'false'], (performance.now() - startedMs) / 1000);
    gw.telemetry?.end(id, route, status, Date.now(), streamed);
  }

  /** Metric labels stay bounded: only configured model ids, anything else is "other". */
  private modelLabel(body: unknown): string {
    const m = (body as { model?: unknown } | null | undefined)?.model;
    if (typeof m !== 'string') return '';
    return this.gw.channels.get(m) ? m : 'other';
  }

  close(): void {
    clearInterval(this.lagTimer);
  }
}
