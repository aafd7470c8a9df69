// Prometheus metrics for one gateway instance. A registry per instance (not prom-client's
// global one) so tests can run several gateways in one process.
//
// The request path touches these on every request, so they are cheap there: a labelled counter
// or histogram keeps its label children in a map keyed by the label values (prom-client would
// hash a label object on every call), and gauges that change on every request keep a plain
// number that is copied into the gauge only when /metrics is scraped.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** A counter whose label children are looked up by their values in order. */
export interface FastCounter {
  inc(labels: readonly string[], by?: number): void;
}
/** A histogram whose label children are looked up by their values in order. */
export interface FastHistogram {
  observe(labels: readonly string[], value: number): void;
}
/** A gauge read at scrape time: set() only stores the number, or `read` supplies it. */
export interface LatestGauge {
  set(value: number): void;
  readonly value: number;
  /** When set, the scrape takes the value from here instead. */
  read?: () => number;
}
/** A gauge with one label read at scrape time. */
export interface LatestLabelledGauge {
  set(label: string, value: number): void;
}

export interface Metrics {
  registry: Registry;
  /** Labels: route, model, status. */
  requests: FastCounter;
  /** Labels: route, model, stream. */
  latency: FastHistogram;
  /** Labels: provider, model, code. */
  upstreamErrors: FastCounter;
  /** Labels: provider, model, outcome. */
  upstreamAttempts: FastCounter;
  /** Labels: model, kind. */
  tokens: FastCounter;
  /** Labels: model. */
  costMicros: FastCounter;
  inFlight: LatestGauge;
  openStreams: LatestGauge;
  /** Labels: layer, result. */
  cache: FastCounter;
  breakerState: Gauge<'model' | 'channel'>;
  usageQueue: LatestGauge;
  /** Label: provider. */
  upstreamInFlight: LatestLabelledGauge;
}

const SEP = '\u0001';

type Child = { inc(by?: number): void; observe(value: number): void };

/** Label children by their values: one string join and a map lookup instead of hashing an object. */
function childrenOf(metric: { labels(...values: string[]): unknown }): (values: readonly string[]) => Child {
  const children = new Map<string, Child>();
  return (values) => {
    const key = values.length === 1 ? values[0]! : values.join(SEP);
    let child = children.get(key);
    if (child === undefined) {
      child = metric.labels(...values) as Child;
      children.set(key, child);
    }
    return child;
  };
}

function fastCounter(c: Counter<string>): FastCounter {
  const child = childrenOf(c);
  return { inc: (labels, by) => child(labels).inc(by) };
}

function fastHistogram(h: Histogram<string>): FastHistogram {
  const child = childrenOf(h);
  return { observe: (labels, value) => child(labels).observe(value) };
}

function latestGauge(registry: Registry, name: string, help: string): LatestGauge {
  const latest: LatestGauge & { value: number } = { value: 0, set: (v: number) => void (latest.value = v) };
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(latest.read ? latest.read() : latest.value);
    },
  });
  return latest;
}

function latestLabelledGauge(registry: Registry, name: string, help: string, label: string): LatestLabelledGauge {
  const values = new Map<string, number>();
  new Gauge({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    collect() {
      for (const [l, v] of values) this.set({ [label]: l }, v);
    },
  });
  return { set: (l, v) => void values.set(l, v) };
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  // Process memory, CPU, event-loop lag and heap figures, sampled when /metrics is scraped.
  collectDefaultMetrics({ register: registry, prefix: 'tollgate_' });
  const buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
  const counter = (name: string, help: string, labelNames: string[]) => fastCounter(new Counter({ name, help, labelNames, registers: [registry] }));
  return {
    registry,
    requests: counter('tollgate_requests_total', 'Requests by route, model and status', ['route', 'model', 'status']),
    latency: fastHistogram(new Histogram({ name: 'tollgate_request_duration_seconds', help: 'Request latency (to the end of the response)', labelNames: ['route', 'model', 'stream'], buckets, registers: [registry] })),
    upstreamErrors: counter('tollgate_upstream_errors_total', 'Upstream failures by provider, model and code', ['provider', 'model', 'code']),
    upstreamAttempts: counter('tollgate_upstream_attempts_total', 'Upstream attempts by outcome', ['provider', 'model', 'outcome']),
    tokens: counter('tollgate_tokens_total', 'Tokens billed, by model and kind (prompt|completion)', ['model', 'kind']),
    costMicros: counter('tollgate_cost_micro_usd_total', 'Credit charged in micro-USD', ['model']),
    inFlight: latestGauge(registry, 'tollgate_in_flight_requests', 'Requests being served'),
    openStreams: latestGauge(registry, 'tollgate_open_streams', 'Open SSE streams'),
    cache: counter('tollgate_cache_lookups_total', 'Cache lookups by layer and result (hit|miss|bypass)', ['layer', 'result']),
    breakerState: new Gauge({ name: 'tollgate_channel_state', help: 'Channel circuit state: 0 closed, 1 half-open, 2 open', labelNames: ['model', 'channel'], registers: [registry] }),
    usageQueue: latestGauge(registry, 'tollgate_usage_queue_length', 'Usage records waiting to be written'),
    upstreamInFlight: latestLabelledGauge(registry, 'tollgate_upstream_in_flight_requests', 'Requests in flight to each provider (streams until they end)', 'provider'),
  };
}
