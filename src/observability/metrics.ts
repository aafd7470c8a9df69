// Prometheus metrics for one gateway instance. A registry per instance (not prom-client's
// global one) so tests can run several gateways in one process.
//
// The request path touches these on every request, so they are cheap there: counters and the
// histogram are small metric objects of our own, registered with prom-client's registry (which
// writes the text format), whose label children are found in a map by their label values
// (prom-client's own would hash and validate a label object on every call), and gauges that change on every request keep a plain
// number that is copied into the gauge only when /metrics is scraped.
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';

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
  /** Inference requests held until the store caught up (no labels). */
  held: FastCounter;
  /** Label: provider. */
  upstreamInFlight: LatestLabelledGauge;
}

interface ExportedValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
  sharedLabels?: Record<string, string>;
}

/** What prom-client's registry reads from a metric when it writes /metrics. */
interface Exported {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  values: ExportedValue[];
  aggregator: 'sum';
}

/** Label values in order, to the label object prom-client's text format writes. */
function labelObject(names: readonly string[], values: readonly string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i < names.length; i++) o[names[i]!] = values[i] ?? '';
  return o;
}

/**
 * A metric's children by their label values, through one map per label: a lookup builds no
 * key string. `all` keeps them in creation order for the scrape.
 */
class Children<C extends object> {
  private root = new Map<string, unknown>();
  readonly all: C[] = [];

  constructor(private readonly depth: number) {}

  get(values: readonly string[]): C | undefined {
    let node = this.root as Map<string, unknown> | undefined;
    for (let i = 0; i < this.depth - 1 && node !== undefined; i++) node = node.get(values[i] ?? '') as Map<string, unknown> | undefined;
    return node?.get(values[this.depth - 1] ?? '') as C | undefined;
  }

  add(values: readonly string[], child: C): void {
    let node = this.root;
    for (let i = 0; i < this.depth - 1; i++) {
      const label = values[i] ?? '';
      let next = node.get(label) as Map<string, unknown> | undefined;
      if (next === undefined) {
        next = new Map();
        node.set(label, next);
      }
      node = next;
    }
    node.set(values[this.depth - 1] ?? '', child);
    this.all.push(child);
  }

  clear(): void {
    this.root = new Map();
    this.all.length = 0;
  }
}

/** A counter registered with prom-client's registry, its children found by their label values. */
class OwnCounter implements FastCounter {
  readonly type = 'counter';
  private readonly children: Children<{ labels: Record<string, string>; value: number }>;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
  ) {
    this.children = new Children(Math.max(1, labelNames.length));
  }

  inc(values: readonly string[], by = 1): void {
    let child = this.children.get(values);
    if (child === undefined) {
      child = { labels: labelObject(this.labelNames, values), value: 0 };
      this.children.add(values, child);
    }
    child.value += by;
  }

  getForPromString(): Exported {
    const values: ExportedValue[] = [];
    for (const c of this.children.all) values.push({ labels: c.labels, value: c.value });
    return { name: this.name, help: this.help, type: 'counter', values, aggregator: 'sum' };
  }

  get(): Exported {
    return this.getForPromString();
  }

  reset(): void {
    this.children.clear();
  }
}

/** A histogram registered with prom-client's registry, its children found by their label values. */
class OwnHistogram implements FastHistogram {
  readonly type = 'histogram';
  private readonly children: Children<{ labels: Record<string, string>; counts: number[]; sum: number; count: number }>;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly string[],
    private readonly bounds: readonly number[],
  ) {
    this.children = new Children(Math.max(1, labelNames.length));
  }

  observe(values: readonly string[], value: number): void {
    let child = this.children.get(values);
    if (child === undefined) {
      child = { labels: labelObject(this.labelNames, values), counts: new Array<number>(this.bounds.length).fill(0), sum: 0, count: 0 };
      this.children.add(values, child);
    }
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (value <= b[i]!) {
        child.counts[i]! += 1;
        break;
      }
    }
    child.sum += value;
    child.count += 1;
  }

  getForPromString(): Exported {
    const values: ExportedValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const c of this.children.all) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += c.counts[i]!;
        values.push({ labels: { le: this.bounds[i]! }, value: acc, metricName: bucket, sharedLabels: c.labels });
      }
      values.push({ labels: { le: '+Inf' }, value: c.count, metricName: bucket, sharedLabels: c.labels });
      values.push({ labels: {}, value: c.sum, metricName: `${this.name}_sum`, sharedLabels: c.labels });
      values.push({ labels: {}, value: c.count, metricName: `${this.name}_count`, sharedLabels: c.labels });
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' };
  }

  get(): Exported {
    return this.getForPromString();
  }

  reset(): void {
    this.children.clear();
  }
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
  const register = <M extends { name: string }>(m: M): M => {
    registry.registerMetric(m as never);
    return m;
  };
  const counter = (name: string, help: string, labelNames: string[]) => register(new OwnCounter(name, help, labelNames));
  return {
    registry,
    requests: counter('tollgate_requests_total', 'Requests by route, model and status', ['route', 'model', 'status']),
    latency: register(new OwnHistogram('tollgate_request_duration_seconds', 'Request latency (to the end of the response)', ['route', 'model', 'stream'], buckets)),
    upstreamErrors: counter('tollgate_upstream_errors_total', 'Upstream failures by provider, model and code', ['provider', 'model', 'code']),
    upstreamAttempts: counter('tollgate_upstream_attempts_total', 'Upstream attempts by outcome', ['provider', 'model', 'outcome']),
    tokens: counter('tollgate_tokens_total', 'Tokens billed, by model and kind (prompt|completion)', ['model', 'kind']),
    costMicros: counter('tollgate_cost_micro_usd_total', 'Credit charged in micro-USD', ['model']),
    inFlight: latestGauge(registry, 'tollgate_in_flight_requests', 'Requests being served'),
    openStreams: latestGauge(registry, 'tollgate_open_streams', 'Open SSE streams'),
    cache: counter('tollgate_cache_lookups_total', 'Cache lookups by layer and result (hit|miss|bypass)', ['layer', 'result']),
    breakerState: new Gauge({ name: 'tollgate_channel_state', help: 'Channel circuit state: 0 closed, 1 half-open, 2 open', labelNames: ['model', 'channel'], registers: [registry] }),
    usageQueue: latestGauge(registry, 'tollgate_usage_queue_length', 'Usage records waiting to be written'),
    held: counter('tollgate_requests_held_total', 'Inference requests held until the store caught up with the usage records', []),
    upstreamInFlight: latestLabelledGauge(registry, 'tollgate_upstream_in_flight_requests', 'Requests in flight to each provider (streams until they end)', 'provider'),
  };
}
