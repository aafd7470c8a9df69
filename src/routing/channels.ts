// The runtime view of models and their channels: adapter, transport and breaker for each
// channel, and the choice of channel (priority, then weight, among healthy ones).
import { LRUCache } from 'lru-cache';
import { type CatalogueModel, priceName, vendorModels, vendorOfProvider } from '../catalogue/index.js';
import { type Config, isWildcardId, type ModelConfig, modelSchema, type ProviderConfig } from '../config/schema.js';
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

/** A wildcard route: a model entry such as "openai/*", or a provider marked pass_through. */
export interface WildcardRoute {
  config: ModelConfig;
  /** the part before the "*": a requested name must start with it */
  prefix: string;
  /** priced per name from the catalogue (else the route's own pricing for every name) */
  fromCatalogue: boolean;
  /** the catalogue vendor of the route's first channel, whose entries price and list first */
  vendor: string | undefined;
}

/** What a wildcard route makes of a requested name. */
export type WildcardMatch = { kind: 'model'; model: ModelRuntime } | { kind: 'unpriced'; route: WildcardRoute };

/** Names served through wildcard routes that are kept with their breakers (least recently used go first). */
const MAX_WILDCARD_MODELS = 1000;
/** A name a wildcard route may serve: model-name characters only, and short, since it is kept and sent upstream. */
const ROUTABLE_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}$/;

/** Whether the channel is in pick()'s pool at its best priority. */
function inTop(c: ChannelRuntime, best: number, untried: boolean, tried: ReadonlySet<string>, only: ((c: ChannelRuntime) => boolean) | undefined, now: number): boolean {
  return c.priority === best && (!untried || !tried.has(c.id)) && (only === undefined || only(c)) && c.breaker.isAvailable(now);
}

export class ChannelTable {
  readonly models = new Map<string, ModelRuntime>();
  /** wildcard routes, most specific (longest prefix) first */
  readonly wildcards: WildcardRoute[] = [];
  private readonly transports: Transport[] = [];
  private readonly providers: Map<string, ProviderConfig>;
  private readonly adapters = new Map<string, ProviderAdapter>();
  private readonly transportOf = new Map<string, Transport>();
  private readonly served = new LRUCache<string, ModelRuntime>({ max: MAX_WILDCARD_MODELS });

  /** Per provider id: requests in flight and the cap. */
  readonly gates = new Map<string, InFlightGate>();

  constructor(
    private readonly config: Config,
    private readonly onStateChange?: (model: string, channel: ChannelRuntime, state: CircuitState) => void,
    random: () => number = Math.random,
    onInFlight?: (provider: string, inFlight: number) => void,
  ) {
    this.random = random;
    this.providers = new Map(config.providers.map((p) => [p.id, p]));
    for (const p of config.providers) {
      this.adapters.set(p.id, createAdapter(p));
      const t = createTransport(p);
      this.transportOf.set(p.id, t);
      this.transports.push(t);
      this.gates.set(p.id, new InFlightGate(p.id, upstreamCapacity(p), p.queue_timeout_ms, onInFlight && ((n) => onInFlight(p.id, n))));
    }
    for (const m of config.models) {
      if (isWildcardId(m.id)) this.addRoute(m);
      else this.models.set(m.id, this.runtime(m));
    }
    for (const p of config.providers) {
      const id = `${p.id}/*`;
      if (p.pass_through && !this.wildcards.some((w) => w.config.id === id)) {
        this.addRoute(modelSchema.parse({ id, pricing: 'catalogue', channels: [{ provider: p.id, upstream_model: '*' }] }));
      }
    }
    this.wildcards.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  private addRoute(m: ModelConfig): void {
    const first = this.providers.get(m.channels[0]?.provider ?? '');
    this.wildcards.push({ config: m, prefix: m.id.slice(0, -1), fromCatalogue: 'from_catalogue' in m.pricing, vendor: first ? vendorOfProvider(first) : undefined });
  }

  /** A model's runtime: a channel (adapter, transport, breaker) per configured channel. */
  private runtime(m: ModelConfig): ModelRuntime {
    const cb = this.config.circuit_breaker;
    const channels = m.channels.map((c, i): ChannelRuntime => {
      const ch: ChannelRuntime = {
        id: `${m.id}#${i}`,
        model: m,
        provider: this.providers.get(c.provider)!,
        upstreamModel: c.upstream_model,
        priority: c.priority,
        weight: c.weight,
        adapter: this.adapters.get(c.provider)!,
        transport: this.transportOf.get(c.provider)!,
        gate: this.gates.get(c.provider)!,
        breaker: new CircuitBreaker({
          failureThreshold: cb.failure_threshold,
          failureRate: cb.failure_rate,
          minRequests: cb.min_requests,
          windowMs: cb.window_s * 1000,
          cooldownMs: cb.cooldown_s * 1000,
        }),
      };
      ch.breaker.onChange = (s) => this.onStateChange?.(m.id, ch, s);
      return ch;
    });
    const firstAdapter = channels[0]?.adapter;
    // The model as requests see it: with the extra parameters its providers declare folded in.
    const extras = effectiveExtraParameters(m, channels.map((c) => c.provider));
    const resolved = extras === m.extra_parameters ? m : { ...m, extra_parameters: extras };
    return { config: resolved, channels, supported: m.supported_parameters ?? firstAdapter?.supportedParameters };
  }

  /**
   * A name no configured model has, through the most specific wildcard route it matches: a
   * model priced from the catalogue (or at the route's own price), or `unpriced` when the
   * route prices from the catalogue and the catalogue knows no price for the name.
   */
  matchWildcard(name: string): WildcardMatch | undefined {
    if (this.wildcards.length === 0 || !ROUTABLE_NAME.test(name)) return undefined;
    const known = this.served.get(name);
    if (known) return { kind: 'model', model: known };
    const route = this.wildcards.find((w) => name.length > w.prefix.length && name.startsWith(w.prefix));
    if (!route) return undefined;
    const rest = name.slice(route.prefix.length);
    const priced = priceName(rest, route.vendor);
    if (route.fromCatalogue && !priced) return { kind: 'unpriced', route };
    const model = this.runtime(this.wildcardModel(route, name, rest, priced?.entry));
    this.served.set(name, model);
    return { kind: 'model', model };
  }

  private wildcardModel(route: WildcardRoute, name: string, rest: string, entry: CatalogueModel | undefined): ModelConfig {
    const base = route.config;
    const { from_catalogue: _, ...ownPricing } = base.pricing as ModelConfig['pricing'] & { from_catalogue?: true };
    return {
      ...base,
      id: name,
      aliases: undefined,
      kind: entry?.kind ?? base.kind,
      context_window: entry?.context_window ?? base.context_window,
      max_output_tokens: entry?.max_output_tokens ?? base.max_output_tokens,
      pricing: route.fromCatalogue && entry ? { ...ownPricing, ...entry.pricing } : ownPricing,
      description: entry ? `${entry.id} through the route ${base.id} (priced from the built-in catalogue)` : base.description,
      channels: base.channels.map((c) => {
        // Each channel's upstream gets its own vendor's name for the model, else the name as requested.
        const provider = this.providers.get(c.provider);
        const vendor = provider ? vendorOfProvider(provider) : undefined;
        const own = vendor ? priceName(rest, vendor) : undefined;
        const upstream = own && own.entry.vendor === vendor ? own.upstream : rest;
        return { ...c, upstream_model: c.upstream_model.replaceAll('*', upstream) };
      }),
    };
  }

  /** Catalogue models reachable through the wildcard routes (each route lists its vendor's entries), for GET /v1/models. */
  wildcardModels(): ModelRuntime[] {
    const out = new Map<string, ModelRuntime>();
    for (const route of this.wildcards) {
      if (!route.vendor || route.config.maintenance) continue;
      for (const entry of vendorModels(route.vendor)) {
        const name = `${route.prefix}${entry.id}`;
        if (out.has(name) || this.models.has(name)) continue;
        const match = this.matchWildcard(name);
        if (match?.kind === 'model') out.set(name, match.model);
      }
    }
    return [...out.values()];
  }

  /** A configured model by id, or a name already served through a wildcard route (without serving a new one). */
  runtimeOf(id: string): ModelRuntime | undefined {
    return this.models.get(id) ?? this.served.peek(id);
  }

  /** Every model runtime with channels: configured models and names served through wildcard routes. */
  *runtimes(): IterableIterator<ModelRuntime> {
    yield* this.models.values();
    yield* this.served.values();
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
  /** `only`, when given, limits the choice to the channels it accepts (e.g. those with a native lane). */
  pick(model: ModelRuntime, tried: ReadonlySet<string>, now = Date.now(), only?: (c: ChannelRuntime) => boolean): ChannelRuntime | undefined {
    // In passes over the channels, with no arrays or closures made per request: first the
    // pool's best priority (the pool: untried channels that admit traffic, or when there are
    // none, every channel that does), then the weights of the pool's channels of that priority.
    const channels = model.channels;
    let any = false;
    let untried = false;
    let best = 0;
    for (let i = 0; i < channels.length; i++) {
      const c = channels[i];
      if ((only !== undefined && !only(c)) || !c.breaker.isAvailable(now)) continue;
      const fresh = !tried.has(c.id);
      if (!any || (fresh && !untried)) {
        any = true;
        untried = fresh;
        best = c.priority;
      } else if (fresh === untried && c.priority < best) best = c.priority;
    }
    if (!any) return undefined;
    let total = 0;
    let last: ChannelRuntime | undefined;
    for (let i = 0; i < channels.length; i++) {
      const c = channels[i];
      if (!inTop(c, best, untried, tried, only, now)) continue;
      total += c.weight;
      last = c;
    }
    let r = this.random() * total;
    for (let i = 0; i < channels.length; i++) {
      const c = channels[i];
      if (!inTop(c, best, untried, tried, only, now)) continue;
      r -= c.weight;
      if (r <= 0) return c;
    }
    return last;
  }

  async close(): Promise<void> {
    await Promise.all(this.transports.map((t) => t.close()));
  }
}
