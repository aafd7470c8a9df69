// Per-channel circuit breaker: opens on a run of failures or a failure rate over a window,
// sheds traffic while open, lets one probe through after the cooldown, closes on success.

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  failureThreshold: number;
  failureRate: number;
  minRequests: number;
  windowMs: number;
  cooldownMs: number;
}

export class CircuitBreaker {
  private stateValue: CircuitState = 'closed';
  private consecutiveFailures = 0;
  private openedAt = 0;
  private probeInFlight = false;
  /** outcomes in the window, counted per second in a ring: O(1) per request, bounded memory */
  private readonly bucketSecond: number[];
  private readonly bucketOk: number[];
  private readonly bucketFail: number[];
  private latencyEwmaMs = 0;
  onChange: ((state: CircuitState) => void) | undefined;

  constructor(private readonly opts: BreakerOptions) {
    const n = Math.max(1, Math.ceil(opts.windowMs / 1000));
    this.bucketSecond = new Array<number>(n).fill(-1);
    this.bucketOk = new Array<number>(n).fill(0);
    this.bucketFail = new Array<number>(n).fill(0);
  }

  get state(): CircuitState {
    return this.stateValue;
  }

  /** May a request go to this channel now? A half-open breaker admits one probe at a time. */
  allow(now = Date.now()): boolean {
    if (this.stateValue === 'closed') return true;
    if (this.stateValue === 'open') {
      if (now - this.openedAt < this.opts.cooldownMs) return false;
      this.transition('half-open');
    }
    if (this.probeInFlight) return false;
    this.probeInFlight = true;
    return true;
  }

  /** Whether the channel would be tried, without claiming the probe slot. */
  isAvailable(now = Date.now()): boolean {
    if (this.stateValue === 'closed') return true;
    if (this.stateValue === 'open') return now - this.openedAt >= this.opts.cooldownMs;
    return !this.probeInFlight;
  }

  record(ok: boolean, latencyMs: number, now = Date.now()): void {
    const sec = Math.floor(now / 1000);
    const i = sec % this.bucketSecond.length;
    if (this.bucketSecond[i] !== sec) {
      this.bucketSecond[i] = sec;
      this.bucketOk[i] = 0;
      this.bucketFail[i] = 0;
    }
    if (ok) this.bucketOk[i]++;
    else this.bucketFail[i]++;
    if (ok) this.latencyEwmaMs = this.latencyEwmaMs === 0 ? latencyMs : this.latencyEwmaMs * 0.8 + latencyMs * 0.2;
    if (this.stateValue === 'half-open') {
      this.probeInFlight = false;
      if (ok) {
        this.consecutiveFailures = 0;
        this.resetWindow();
        this.transition('closed');
      } else this.open(now);
      return;
    }
    if (ok) {
      this.consecutiveFailures = 0;
      return;
    }
    this.consecutiveFailures++;
    if (this.stateValue !== 'closed') return;
    if (this.consecutiveFailures >= this.opts.failureThreshold) {
      this.open(now);
      return;
    }
    const { requests, failures } = this.window(now);
    if (requests >= this.opts.minRequests && failures / requests >= this.opts.failureRate) this.open(now);
  }

  /** Another instance saw this channel fail: stop sending to it too, for one cooldown. */
  forceOpen(now = Date.now()): void {
    if (this.stateValue !== 'open') this.open(now);
  }

  /** Another instance's probe succeeded: resume sending. */
  forceClose(): void {
    if (this.stateValue === 'closed') return;
    this.consecutiveFailures = 0;
    this.probeInFlight = false;
    this.resetWindow();
    this.transition('closed');
  }

  /** A probe that ended without an outcome (client left) frees the slot. */
  releaseProbe(): void {
    this.probeInFlight = false;
  }

  stats(now = Date.now()): { errorRate: number; requests: number; latencyMs: number } {
    const { requests, failures } = this.window(now);
    return { errorRate: requests ? failures / requests : 0, requests, latencyMs: Math.round(this.latencyEwmaMs) };
  }

  private window(now: number): { requests: number; failures: number } {
    const oldest = Math.floor((now - this.opts.windowMs) / 1000);
    let requests = 0;
    let failures = 0;
    for (let i = 0; i < this.bucketSecond.length; i++) {
      if (this.bucketSecond[i] <= oldest) continue;
      requests += this.bucketOk[i] + this.bucketFail[i];
      failures += this.bucketFail[i];
    }
    return { requests, failures };
  }

  private resetWindow(): void {
    this.bucketSecond.fill(-1);
    this.bucketOk.fill(0);
    this.bucketFail.fill(0);
  }

  private open(now: number): void {
    this.openedAt = now;
    this.probeInFlight = false;
    this.transition('open');
  }

  private transition(s: CircuitState): void {
    if (s === this.stateValue) return;
    this.stateValue = s;
    this.onChange?.(s);
  }
}
