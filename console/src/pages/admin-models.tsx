// Live routing health: each model's channels with their circuit-breaker state, recent error
// rate and latency. Refreshes every 10 s while the tab is visible.
import { useState } from 'react';
import { listAdminModels } from '../api';
import { CheckboxField } from '../components/fields';
import { PageHeader } from '../components/page-header';
import { Empty, ErrorState, Loading } from '../components/states';
import { formatDateTime, formatMs, formatNumber, formatPercent, formatUsd } from '../format';
import type { AdminModel, BreakerState } from '../types';
import { useResource } from '../use-resource';

const REFRESH_MS = 10_000;

const BREAKER_TEXT: Record<BreakerState, { label: string; className: string; hint: string }> = {
  closed: { label: 'Closed', className: 'badge badge-ok', hint: 'healthy, taking traffic' },
  'half-open': { label: 'Half-open', className: 'badge badge-warn', hint: 'letting a probe through' },
  open: { label: 'Open', className: 'badge badge-error', hint: 'failing, traffic routed away' },
  unknown: { label: 'Unknown', className: 'badge', hint: 'no state reported' },
};

function modelHealth(model: AdminModel): { label: string; className: string } {
  if (model.maintenance) return { label: 'Maintenance', className: 'badge badge-warn' };
  if (model.channels.length === 0) return { label: 'No channels', className: 'badge badge-error' };
  if (model.channels.every((c) => c.state === 'open')) return { label: 'Unavailable', className: 'badge badge-error' };
  if (model.channels.some((c) => c.state !== 'closed')) return { label: 'Degraded', className: 'badge badge-warn' };
  return { label: 'Healthy', className: 'badge badge-ok' };
}

export function AdminModelsPage() {
  const [auto, setAuto] = useState(true);
  const res = useResource((signal) => listAdminModels(signal), 'admin-models', auto ? REFRESH_MS : undefined);
  const models = res.data ?? [];

  return (
    <section data-testid="page-admin-models">
      <PageHeader
        title="Models & channels"
        testId="admin-models-header"
        description={<span data-testid="admin-models-updated">{res.updatedAt ? `Updated ${formatDateTime(res.updatedAt)}` : 'Not loaded yet'}</span>}
        actions={
          <>
            <CheckboxField label={`Refresh every ${REFRESH_MS / 1000} s`} checked={auto} onChange={setAuto} testId="admin-models-auto" />
            <button className="btn" onClick={res.reload} data-testid="admin-models-refresh">
              Refresh now
            </button>
          </>
        }
      />
      {res.error && <ErrorState error={res.error} onRetry={res.reload} title={res.data ? 'The last refresh failed; showing older data' : 'Models could not be loaded'} />}
      {!res.data && !res.error && <Loading label="Loading models…" />}
      {res.data && models.length === 0 && <Empty title="No models configured">Add models and channels to the config file and restart Tollgate.</Empty>}
      <div className="model-cards">
        {models.map((m) => {
          const health = modelHealth(m);
          return (
            <article key={m.id} className="card" data-testid="admin-model" data-model={m.id}>
              <div className="card-head">
                <h2 className="mono">{m.id}</h2>
                <span className={health.className} data-testid="admin-model-health">
                  {health.label}
                </span>
              </div>
              <p className="muted small">
                Context {formatNumber(m.context_length)} tokens · input {formatUsd(m.pricing.input_per_mtok)} / output {formatUsd(m.pricing.output_per_mtok)} per 1M tokens
              </p>
              {m.channels.length === 0 ? (
                <p className="muted">No channels.</p>
              ) : (
                <table className="table table-stack">
                  <thead>
                    <tr>
                      <th scope="col">Channel</th>
                      <th scope="col">Breaker</th>
                      <th scope="col" className="num">Error rate</th>
                      <th scope="col" className="num">Latency</th>
                      <th scope="col" className="num">Priority / weight</th>
                    </tr>
                  </thead>
                  <tbody>
                    {m.channels.map((c) => {
                      const b = BREAKER_TEXT[c.state];
                      return (
                        <tr key={c.id} data-testid="channel-row" data-state={c.state}>
                          <td data-label="Channel">
                            <div>
                              <span className="strong">{c.provider}</span> {(c.provider_type ?? c.provider) === 'mock' && <span className="badge badge-info">mock</span>}
                              <div className="mono small muted">{c.upstream_model}</div>
                            </div>
                          </td>
                          <td data-label="Breaker">
                            <span className={b.className} title={b.hint} data-testid="channel-state">
                              {b.label}
                            </span>
                          </td>
                          <td data-label="Error rate" className="num">
                            <div>
                              {formatPercent(c.error_rate)}
                              {c.requests !== null && <div className="muted small">of {formatNumber(c.requests)} requests</div>}
                            </div>
                          </td>
                          <td data-label="Latency" className="num">
                            {formatMs(c.latency_ms)}
                          </td>
                          <td data-label="Priority / weight" className="num">
                            {c.priority ?? '—'} / {c.weight ?? '—'}
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              )}
            </article>
          );
        })}
      </div>
    </section>
  );
}
