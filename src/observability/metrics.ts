// Prometheus metrics for one gateway instance. A registry per instance (not prom-client's
// global one) so tests can run several gateways in one process.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface Metrics {
  registry: Registry;
  requests: Counter<'route' | 'model' | 'status'>;
  latency: Histogram<'route' | 'model' | 'stream'>;
  upstreamErrors: Counter<'provider' | 'model' | 'code'>;
  upstreamAttempts: Counter<'provider' | 'model' | 'outcome'>;
  tokens: Counter<'model' | 'kind'>;
  costMicros: Counter<'model'>;
  inFlight: Gauge;
  openStreams: Gauge;
  cache: Counter<'layer' | 'result'>;
  breakerState: Gauge<'model' | 'channel'>;
  usageQueue: Gauge;
  upstreamInFlight: Gauge<'provider'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  // Process memory, CPU, event-loop lag and heap figures, sampled when /metrics is scraped.
  collectDefaultMetrics({ register: registry, prefix: 'tollgate_' });
  const buckets = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
  return {
    registry,
    requests: new Counter({ name: 'tollgate_requests_total', help: 'Requests by route, model and status', labelNames: ['route', 'model', 'status'], registers: [registry] }),
    latency: new Histogram({ name: 'tollgate_request_duration_seconds', help: 'Request latency (to the end of the response)', labelNames: ['route', 'model', 'stream'], buckets, registers: [registry] }),
    upstreamErrors: new Counter({ name: 'tollgate_upstream_errors_total', help: 'Upstream failures by provider, model and code', labelNames: ['provider', 'model', 'code'], registers: [registry] }),
    upstreamAttempts: new Counter({ name: 'tollgate_upstream_attempts_total', help: 'Upstream attempts by outcome', labelNames: ['provider', 'model', 'outcome'], registers: [registry] }),
    tokens: new Counter({ name: 'tollgate_tokens_total', help: 'Tokens billed, by model and kind (prompt|completion)', labelNames: ['model', 'kind'], registers: [registry] }),
    costMicros: new Counter({ name: 'tollgate_cost_micro_usd_total', help: 'Credit charged in micro-USD', labelNames: ['model'], registers: [registry] }),
    inFlight: new Gauge({ name: 'tollgate_in_flight_requests', help: 'Requests being served', registers: [registry] }),
    openStreams: new Gauge({ name: 'tollgate_open_streams', help: 'Open SSE streams', registers: [registry] }),
    cache: new Counter({ name: 'tollgate_cache_lookups_total', help: 'Cache lookups by layer and result (hit|miss|bypass)', labelNames: ['layer', 'result'], registers: [registry] }),
    breakerState: new Gauge({ name: 'tollgate_channel_state', help: 'Channel circuit state: 0 closed, 1 half-open, 2 open', labelNames: ['model', 'channel'], registers: [registry] }),
    usageQueue: new Gauge({ name: 'tollgate_usage_queue_length', help: 'Usage records waiting to be written', registers: [registry] }),
    upstreamInFlight: new Gauge({ name: 'tollgate_upstream_in_flight_requests', help: 'Requests in flight to each provider (streams until they end)', labelNames: ['provider'], registers: [registry] }),
  };
}
