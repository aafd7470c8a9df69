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
  /** outcomes in the window: timestamps and success flags, oldest first */
  private readonly times: number[] = [];
  private readonly oks: boolean[] = [];
  private latencyEwmaMs = 0;
  onChange: ((state: CircuitState) => void) | undefined;

  constructor(private readonly opts: BreakerOptions) {}

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
    this.trim(now);
    this.times.push(now);
    this.oks.push(ok);
    if (ok) this.latencyEwmaMs = this.latencyEwmaMs === 0 ? latencyMs : this.latencyEwmaMs * 0.8 + latencyMs * 0.2;
    if (this.stateValue === 'half-open') {
      this.probeInFlight = false;
      if (ok) {
        this.consecutiveFailures = 0;
        this.times.length = 0;
        this.oks.length = 0;
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
    if (this.times.length >= this.opts.minRequests) {
      let failures = 0;
      for (const o of this.oks) if (!o) failures++;
      if (failures / this.times.length >= this.opts.failureRate) this.open(now);
    }
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
    this.times.length = 0;
    this.oks.length = 0;
    this.transition('closed');
  }

  /** A probe that ended without an outcome (client left) frees the slot. */
  releaseProbe(): void {
    this.probeInFlight = false;
  }

  stats(now = Date.now()): { errorRate: number; requests: number; latencyMs: number } {
    this.trim(now);
    let failures = 0;
    for (const o of this.oks) if (!o) failures++;
    return { errorRate: this.times.length ? failures / this.times.length : 0, requests: this.times.length, latencyMs: Math.round(this.latencyEwmaMs) };
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

  private trim(now: number): void {
    const cutoff = now - this.opts.windowMs;
    let drop = 0;
    while (drop < this.times.length && this.times[drop] < cutoff) drop++;
    if (drop > 0) {
      this.times.splice(0, drop);
      this.oks.splice(0, drop);
    }
    // Bounded even under heavy traffic within one window.
    if (this.times.length > 10_000) {
      this.times.splice(0, this.times.length - 10_000);
      this.oks.splice(0, this.oks.length - 10_000);
    }
  }
}
