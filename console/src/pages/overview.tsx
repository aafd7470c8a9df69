// The org at a glance: money left, what was spent and requested per day, how often requests
// failed, and which models the spend went to.
import { useState } from 'react';
import { aggregateUsage, getBalance } from '../api';
import { BarChart, type BarPoint } from '../components/bar-chart';
import { SelectField } from '../components/fields';
import { PageHeader, StatCard } from '../components/page-header';
import { Empty, ErrorState, Loading } from '../components/states';
import { formatCompact, formatDay, formatNumber, formatPercent, formatTokens, formatUsd } from '../format';
import type { UsageAggregate } from '../types';
import { useResource } from '../use-resource';

const DAY_MS = 86_400_000;

function dayKey(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/** One entry per UTC day of the range, zero where nothing happened, so gaps show as gaps. */
export function fillDays(rows: UsageAggregate[], days: number, now = Date.now()): { date: Date; row: UsageAggregate | null }[] {
  const byDay = new Map<string, UsageAggregate>();
  for (const row of rows) {
    if (!row.bucket) continue;
    const k = dayKey(row.bucket);
    const seen = byDay.get(k);
    // Rows of one day may arrive split (e.g. per model); add them up.
    byDay.set(
      k,
      seen
        ? {
            ...seen,
            requests: seen.requests + row.requests,
            errors: seen.errors + row.errors,
            cost_usd: seen.cost_usd + row.cost_usd,
            cache_hits: seen.cache_hits + row.cache_hits,
          }
        : row,
    );
  }
  const today = Math.floor(now / DAY_MS) * DAY_MS;
  const out: { date: Date; row: UsageAggregate | null }[] = [];
  for (let i = days - 1; i >= 0; i--) {
    const date = new Date(today - i * DAY_MS);
    out.push({ date, row: byDay.get(dayKey(date)) ?? null });
  }
  return out;
}

interface OverviewData {
  days: UsageAggregate[];
  models: UsageAggregate[];
}

export function OverviewPage() {
  const [range, setRange] = useState('30');
  const days = Number(range);
  const balance = useResource((signal) => getBalance(signal), 'balance');
  const usage = useResource<OverviewData>(async (signal) => {
    const from = new Date(Math.floor(Date.now() / DAY_MS) * DAY_MS - (days - 1) * DAY_MS).toISOString();
    const [byDay, byModel] = await Promise.all([aggregateUsage('day', { from }, signal), aggregateUsage('model', { from }, signal)]);
    return { days: byDay, models: byModel };
  }, `usage-${days}`);

  const filled = usage.data ? fillDays(usage.data.days, days) : [];
  const totals = filled.reduce(
    (t, d) => ({
      requests: t.requests + (d.row?.requests ?? 0),
      errors: t.errors + (d.row?.errors ?? 0),
      cost: t.cost + (d.row?.cost_usd ?? 0),
      hits: t.hits + (d.row?.cache_hits ?? 0),
    }),
    { requests: 0, errors: 0, cost: 0, hits: 0 },
  );
  const spendPoints: BarPoint[] = filled.map((d) => ({ label: formatDay(d.date), value: d.row?.cost_usd ?? 0 }));
  const requestPoints: BarPoint[] = filled.map((d) => ({ label: formatDay(d.date), value: d.row?.requests ?? 0, part: d.row?.errors ?? 0 }));
  const topModels = [...(usage.data?.models ?? [])].sort((a, b) => b.cost_usd - a.cost_usd || b.requests - a.requests).slice(0, 8);
  const refresh = () => {
    balance.reload();
    usage.reload();
  };

  return (
    <section data-testid="page-overview">
      <PageHeader
        title="Overview"
        testId="overview-header"
        actions={
          <>
            <SelectField
              label="Period"
              value={range}
              onChange={setRange}
              testId="overview-range"
              options={[
                { value: '7', label: 'Last 7 days' },
                { value: '30', label: 'Last 30 days' },
                { value: '90', label: 'Last 90 days' },
              ]}
            />
            <button className="btn" onClick={refresh} data-testid="overview-refresh">
              Refresh
            </button>
          </>
        }
      />
      <div className="stats">
        <StatCard
          label="Balance"
          testId="stat-balance"
          value={balance.error ? '—' : balance.data ? formatUsd(balance.data.balance_usd) : '…'}
          detail={balance.error ? balance.error.message : 'Prepaid credit left'}
        />
        <StatCard label={`Spend, ${days} days`} testId="stat-spend" value={usage.data ? formatUsd(totals.cost) : '…'} />
        <StatCard label={`Requests, ${days} days`} testId="stat-requests" value={usage.data ? formatNumber(totals.requests) : '…'} detail={usage.data ? `${formatNumber(totals.hits)} served from cache` : undefined} />
        <StatCard
          label="Error rate"
          testId="stat-error-rate"
          value={usage.data ? (totals.requests ? formatPercent(totals.errors / totals.requests) : '—') : '…'}
          detail={usage.data ? `${formatNumber(totals.errors)} failed requests` : undefined}
        />
      </div>

      {usage.error && <ErrorState error={usage.error} onRetry={usage.reload} title="Usage could not be loaded" />}
      {!usage.data && !usage.error && <Loading label="Loading usage…" />}
      {usage.data && (
        <>
          {totals.requests === 0 && (
            <Empty title={`No requests in the last ${days} days`}>
              Create a key on the Keys page and send a request to <code>/v1/chat/completions</code>; it will show up here.
            </Empty>
          )}
          <div className="charts">
            <div className="card">
              <BarChart title="Spend per day (UTC)" data={spendPoints} format={formatUsd} axisFormat={(v) => formatCompact(v, true)} testId="chart-spend" />
            </div>
            <div className="card">
              <BarChart
                title="Requests per day (UTC)"
                data={requestPoints}
                format={formatNumber}
                axisFormat={(v) => formatCompact(v)}
                partLabel="errors"
                integer
                testId="chart-requests"
              />
              <p className="legend small muted">
                <span className="swatch swatch-bar" aria-hidden="true" /> requests <span className="swatch swatch-part" aria-hidden="true" /> errors
              </p>
            </div>
          </div>
          <div className="card card-flush">
            <h2 className="card-title">Top models</h2>
            {topModels.length === 0 ? (
              <Empty title="No model usage yet" testId="top-models-empty" />
            ) : (
              <table className="table table-stack" data-testid="top-models">
                <thead>
                  <tr>
                    <th scope="col">Model</th>
                    <th scope="col" className="num">Requests</th>
                    <th scope="col" className="num">Tokens</th>
                    <th scope="col" className="num">Error rate</th>
                    <th scope="col" className="num">Spend</th>
                  </tr>
                </thead>
                <tbody>
                  {topModels.map((m) => (
                    <tr key={m.model ?? 'unknown'} data-testid="top-model-row">
                      <td data-label="Model" className="mono">
                        {m.model ?? 'unknown'}
                      </td>
                      <td data-label="Requests" className="num">
                        {formatNumber(m.requests)}
                      </td>
                      <td data-label="Tokens" className="num">
                        {formatTokens(m.prompt_tokens + m.completion_tokens)}
                      </td>
                      <td data-label="Error rate" className="num">
                        {m.requests ? formatPercent(m.errors / m.requests) : '—'}
                      </td>
                      <td data-label="Spend" className="num">
                        {formatUsd(m.cost_usd)}
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
