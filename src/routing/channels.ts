// The runtime view of models and their channels: adapter, transport and breaker for each
// channel, and the choice of channel (priority, then weight, among healthy ones).
import type { Config, ModelConfig, ProviderConfig } from '../config/schema.js';
import { effectiveExtraParameters } from '../core/extra-parameters.js';
import { createAdapter, createTransport } from '../providers/registry.js';
import type { ProviderAdapter } from '../providers/types.js';
import { CircuitBreaker, type CircuitState } from './breaker.js';
import { InFlightGate } from './in-flight.js';
import { type Transport, upstreamCapacity } from './transport.js';

export interface ChannelRuntime {
  /** stable id: "<model>#<index>" */
  id: string;
  model: ModelConfig;
  provider: ProviderConfig;
  upstreamModel: string;
  priority: number;
  weight: number;
  adapter: ProviderAdapter;
  transport: Transport;
  /** the provider's in-flight cap, shared by every channel on it */
  gate: InFlightGate;
  breaker: CircuitBreaker;
}

export interface ModelRuntime {
  config: ModelConfig;
  channels: ChannelRuntime[];
  /** supported parameters: the model's list, else the provider's, else all */
  supported: readonly string[] | undefined;
}

export class ChannelTable {
  readonly models = new Map<string, ModelRuntime>();
  private readonly transports: Transport[] = [];

  /** Per provider id: requests in flight and the cap. */
  readonly gates = new Map<string, InFlightGate>();

  constructor(
    config: Config,
    onStateChange?: (model: string, channel: ChannelRuntime, state: CircuitState) => void,
    random: () => number = Math.random,
    onInFlight?: (provider: string, inFlight: number) => void,
  ) {
    this.random = random;
    const providers = new Map(config.providers.map((p) => [p.id, p]));
    const adapters = new Map<string, ProviderAdapter>();
    const transports = new Map<string, Transport>();
    const cb = config.circuit_breaker;
    for (const p of config.providers) {
      adapters.set(p.id, createAdapter(p));
      const t = createTransport(p);
      transports.set(p.id, t);
      this.transports.push(t);
      this.gates.set(p.id, new InFlightGate(p.id, upstreamCapacity(p), p.queue_timeout_ms, onInFlight && ((n) => onInFlight(p.id, n))));
    }
    for (const m of config.models) {
      const channels = m.channels.map((c, i): ChannelRuntime => {
        const provider = providers.get(c.provider)!;
        const ch: ChannelRuntime = {
          id: `${m.id}#${i}`,
          model: m,
          provider,
          upstreamModel: c.upstream_model,
          priority: c.priority,
          weight: c.weight,
          adapter: adapters.get(c.provider)!,
          transport: transports.get(c.provider)!,
          gate: this.gates.get(c.provider)!,
          breaker: new CircuitBreaker({
            failureThreshold: cb.failure_threshold,
            failureRate: cb.failure_rate,
            minRequests: cb.min_requests,
            windowMs: cb.window_s * 1000,
            cooldownMs: cb.cooldown_s * 1000,
          }),
        };
        ch.breaker.onChange = (s) => onStateChange?.(m.id, ch, s);
        return ch;
      });
      const firstAdapter = channels[0]?.adapter;
      // The model as requests see it: with the extra parameters its providers declare folded in.
      const extras = effectiveExtraParameters(m, channels.map((c) => c.provider));
      const resolved = extras === m.extra_parameters ? m : { ...m, extra_parameters: extras };
      this.models.set(m.id, { config: resolved, channels, supported: m.supported_parameters ?? firstAdapter?.supportedParameters });
    }
  }

  private readonly random: () => number;

  get(modelId: string): ModelRuntime | undefined {
    return this.models.get(modelId);
  }

  /** Does the model have a channel that could take a request now? */
  hasHealthyChannel(modelId: string, now = Date.now()): boolean {
    const m = this.models.get(modelId);
    return !!m && m.channels.some((c) => c.breaker.isAvailable(now));
  }

  /**
   * Picks a channel: among channels whose breaker admits traffic, the best priority (lowest
   * number), weighted at random; channels already tried for this request come last.
   */
  pick(model: ModelRuntime, tried: ReadonlySet<string>, now = Date.now()): ChannelRuntime | undefined {
    const untried = model.channels.filter((c) => !tried.has(c.id) && c.breaker.isAvailable(now));
    const pool = untried.length > 0 ? untried : model.channels.filter((c) => c.breaker.isAvailable(now));
    if (pool.length === 0) return undefined;
    let best = Number.POSITIVE_INFINITY;
    for (const c of pool) if (c.priority < best) best = c.priority;
    const top = pool.filter((c) => c.priority === best);
    let total = 0;
    for (const c of top) total += c.weight;
    let r = this.random() * total;
    for (const c of top) {
      r -= c.weight;
      if (r <= 0) return c;
    }
    return top[top.length - 1];
  }

  async close(): Promise<void> {
    await Promise.all(this.transports.map((t) => t.close()));
  }
}
