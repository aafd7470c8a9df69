// The operator's view of every org at once: traffic, revenue, error rate and latency over time,
// split by model or provider, and the organisations that spend the most.
import { useState } from 'react';
import { getTraffic, listTopOrgs } from '../api';
import { BarChart, type BarPoint } from '../components/bar-chart';
import { SelectField } from '../components/fields';
import { PageHeader, StatCard } from '../components/page-header';
import { Empty, ErrorState, Loading } from '../components/states';
import { formatCompact, formatDay, formatMs, formatNumber, formatPercent, formatUsd } from '../format';
import type { OrgSpend, Traffic, TrafficPoint } from '../types';
import { useResource } from '../use-resource';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

const PERIODS: Record<string, { label: string; bucket: 'hour' | 'day'; points: number }> = {
  '24h': { label: 'Last 24 hours', bucket: 'hour', points: 24 },
  '7d': { label: 'Last 7 days', bucket: 'day', points: 7 },
  '30d': { label: 'Last 30 days', bucket: 'day', points: 30 },
};

/** Sums the points of one bucket (they arrive split by model or provider). */
function addPoint(a: TrafficPoint, b: TrafficPoint): TrafficPoint {
  const requests = a.requests + b.requests;
  return {
    ...a,
    requests,
    errors: a.errors + b.errors,
    cache_hits: a.cache_hits + b.cache_hits,
    prompt_tokens: a.prompt_tokens + b.prompt_tokens,
    completion_tokens: a.completion_tokens + b.completion_tokens,
    revenue_usd: a.revenue_usd + b.revenue_usd,
    avg_latency_ms: requests ? (a.avg_latency_ms * a.requests + b.avg_latency_ms * b.requests) / requests : 0,
    p95_latency_le_ms: null,
  };
}

/** One entry per bucket of the period, empty where nothing happened, so gaps show as gaps. */
export function fillBuckets(points: TrafficPoint[], size: number, count: number, now = Date.now()): { start: number; point: TrafficPoint | null }[] {
  const byStart = new Map<number, TrafficPoint>();
  for (const p of points) {
    if (!p.bucket) continue;
    const start = p.bucket.getTime();
    const seen = byStart.get(start);
    byStart.set(start, seen ? addPoint(seen, p) : p);
  }
  const last = Math.floor(now / size) * size;
  const out: { start: number; point: TrafficPoint | null }[] = [];
  for (let i = count - 1; i >= 0; i--) {
    const start = last - i * size;
    out.push({ start, point: byStart.get(start) ?? null });
  }
  return out;
}

/** Totals per model or provider over the whole period. */
function byGroup(points: TrafficPoint[], split: 'model' | 'provider'): (TrafficPoint & { name: string })[] {
  const map = new Map<string, TrafficPoint>();
  for (const p of points) {
    const name = (split === 'model' ? p.model : p.provider) ?? '(none)';
    const seen = map.get(name);
    map.set(name, seen ? addPoint(seen, p) : p);
  }
  return [...map.entries()].map(([name, p]) => ({ ...p, name })).sort((a, b) => b.revenue_usd - a.revenue_usd || b.requests - a.requests);
}

interface TrafficData {
  traffic: Traffic;
  orgs: OrgSpend[];
}

const hourLabel = (t: number) => `${new Date(t).toISOString().slice(11, 13)}:00`;

export function TrafficPage() {
  const [period, setPeriod] = useState('24h');
  const [split, setSplit] = useState<'model' | 'provider'>('model');
  const def = PERIODS[period] ?? PERIODS['24h'];
  const size = def.bucket === 'hour' ? HOUR_MS : DAY_MS;
  const res = useResource<TrafficData>(async (signal) => {
    const from = new Date(Math.floor(Date.now() / size) * size - (def.points - 1) * size).toISOString();
    const [traffic, orgs] = await Promise.all([getTraffic({ from, bucket: def.bucket, by: split }, signal), listTopOrgs(from, 10, signal)]);
    return { traffic, orgs };
  }, `traffic-${period}-${split}`);

  const data = res.data;
  const filled = data ? fillBuckets(data.traffic.data, size, def.points) : [];
  const label = (t: number) => (def.bucket === 'hour' ? hourLabel(t) : formatDay(new Date(t)));
  const revenue: BarPoint[] = filled.map((b) => ({ label: label(b.start), value: b.point?.revenue_usd ?? 0 }));
  const requests: BarPoint[] = filled.map((b) => ({ label: label(b.start), value: b.point?.requests ?? 0, part: b.point?.errors ?? 0 }));
  const latency: BarPoint[] = filled.map((b) => ({ label: label(b.start), value: Math.round(b.point?.avg_latency_ms ?? 0) }));
  const groups = data ? byGroup(data.traffic.data, split) : [];
  const totals = data?.traffic.totals;
  const per = def.bucket === 'hour' ? 'hour (UTC)' : 'day (UTC)';

  return (
    <section data-testid="page-traffic">
      <PageHeader
        title="Traffic"
        testId="traffic-header"
        description="Every organisation's requests, revenue, errors and latency."
        actions={
          <>
            <SelectField
              label="Period"
              value={period}
              onChange={setPeriod}
              testId="traffic-range"
              options={Object.entries(PERIODS).map(([value, p]) => ({ value, label: p.label }))}
            />
            <SelectField
              label="Split by"
              value={split}
              onChange={(v) => setSplit(v === 'provider' ? 'provider' : 'model')}
              testId="traffic-split"
              options={[
                { value: 'model', label: 'Model' },
                { value: 'provider', label: 'Provider' },
              ]}
            />
            <button className="btn" onClick={res.reload} data-testid="traffic-refresh">
              Refresh
            </button>
          </>
        }
      />
      <div className="stats">
        <StatCard label="Requests" testId="stat-traffic-requests" value={totals ? formatNumber(totals.requests) : '…'} detail={totals ? `${formatNumber(totals.cache_hits)} served from cache` : undefined} />
        <StatCard label="Revenue" testId="stat-traffic-revenue" value={totals ? formatUsd(totals.revenue_usd) : '…'} detail="Charged to organisations" />
        <StatCard
          label="Error rate"
          testId="stat-traffic-errors"
          value={totals ? (totals.requests ? formatPercent(totals.errors / totals.requests) : '—') : '…'}
          detail={totals ? `${formatNumber(totals.errors)} failed requests` : undefined}
        />
        <StatCard
          label="Latency"
          testId="stat-traffic-latency"
          value={totals ? (totals.requests ? formatMs(totals.avg_latency_ms) : '—') : '…'}
          detail={totals?.p95_latency_le_ms ? `95 % within ${formatMs(totals.p95_latency_le_ms)}` : 'Mean time to the end of the answer'}
        />
      </div>

      {res.error && <ErrorState error={res.error} onRetry={res.reload} title="Traffic could not be loaded" />}
      {!data && !res.error && <Loading label="Loading traffic…" />}
      {data && (
        <>
          {totals?.requests === 0 && <Empty title="No requests in this period">Requests from every organisation appear here within a second.</Empty>}
          <div className="charts">
            <div className="card">
              <BarChart title={`Revenue per ${per}`} data={revenue} format={formatUsd} axisFormat={(v) => formatCompact(v, true)} testId="chart-revenue" />
            </div>
            <div className="card">
              <BarChart title={`Requests per ${per}`} data={requests} format={formatNumber} axisFormat={(v) => formatCompact(v)} partLabel="errors" integer testId="chart-traffic" />
              <p className="legend small muted">
                <span className="swatch swatch-bar" aria-hidden="true" /> requests <span className="swatch swatch-part" aria-hidden="true" /> errors
              </p>
            </div>
            <div className="card">
              <BarChart title={`Mean latency per ${per}`} data={latency} format={formatMs} axisFormat={(v) => formatMs(v)} testId="chart-latency" />
            </div>
          </div>
          <div className="card card-flush">
            <h2 className="card-title">By {split}</h2>
            {groups.length === 0 ? (
              <Empty title="Nothing to split yet" testId="traffic-groups-empty" />
            ) : (
              <table className="table table-stack" data-testid="traffic-groups">
                <thead>
                  <tr>
                    <th scope="col">{split === 'model' ? 'Model' : 'Provider'}</th>
                    <th scope="col" className="num">Requests</th>
                    <th scope="col" className="num">Error rate</th>
                    <th scope="col" className="num">Mean latency</th>
                    <th scope="col" className="num">Revenue</th>
                  </tr>
                </thead>
                <tbody>
                  {groups.map((g) => (
                    <tr key={g.name} data-testid="traffic-group-row" data-name={g.name}>
                      <td data-label={split === 'model' ? 'Model' : 'Provider'} className="mono">
                        {g.name}
                      </td>
                      <td data-label="Requests" className="num" data-testid="group-requests">
                        {formatNumber(g.requests)}
                      </td>
                      <td data-label="Error rate" className="num">
                        {g.requests ? formatPercent(g.errors / g.requests) : '—'}
                      </td>
                      <td data-label="Mean latency" className="num">
                        {formatMs(g.avg_latency_ms)}
                      </td>
                      <td data-label="Revenue" className="num" data-testid="group-revenue">
                        {formatUsd(g.revenue_usd)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </div>
          <div className="card card-flush">
            <h2 className="card-title">Top organisations by spend</h2>
            {data.orgs.length === 0 ? (
              <Empty title="No spend in this period" testId="top-orgs-empty" />
            ) : (
              <table className="table table-stack" data-testid="top-orgs">
                <thead>
                  <tr>
                    <th scope="col">Organisation</th>
                    <th scope="col" className="num">Requests</th>
                    <th scope="col" className="num">Error rate</th>
                    <th scope="col" className="num">Spend</th>
                  </tr>
                </thead>
                <tbody>
                  {data.orgs.map((o) => (
                    <tr key={o.org_id} data-testid="top-org-row" data-org-id={o.org_id}>
                      <td data-label="Organisation">{o.name ?? o.org_id}</td>
                      <td data-label="Requests" className="num">
                        {formatNumber(o.requests)}
                      </td>
                      <td data-label="Error rate" className="num">
                        {o.requests ? formatPercent(o.errors / o.requests) : '—'}
                      </td>
                      <td data-label="Spend" className="num" data-testid="top-org-spend">
                        {formatUsd(o.revenue_usd)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </div>
        </>
      )}
    </section>
  );
}
