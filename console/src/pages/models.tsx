// The models this org may call, with price, context and whether they are serving right now.
// A server without GET /api/models still gets a useful page: the models seen in usage.
import { ApiError, aggregateUsage, listOrgModels } from '../api';
import { PageHeader } from '../components/page-header';
import { Empty, ErrorState, Loading } from '../components/states';
import { formatDateTime, formatNumber, formatUsd } from '../format';
import type { OrgModel } from '../types';
import { useResource } from '../use-resource';

const REFRESH_MS = 15_000;

async function loadModels(signal: AbortSignal): Promise<{ models: OrgModel[]; fromUsage: boolean }> {
  try {
    return { models: await listOrgModels(signal), fromUsage: false };
  } catch (err) {
    if (!(err instanceof ApiError) || (err.status !== 404 && err.status !== 405)) throw err;
    const rows = await aggregateUsage('model', {}, signal);
    const models = rows
      .filter((r) => r.model)
      .map((r) => ({ id: r.model ?? '', context_length: null, max_output_tokens: null, pricing: { input_per_mtok: null, output_per_mtok: null }, available: null, owned_by: null, mock: false }));
    return { models, fromUsage: true };
  }
}

function Availability({ available }: { available: boolean | null }) {
  if (available === null) return <span className="badge">Unknown</span>;
  return available ? <span className="badge badge-ok">Available</span> : <span className="badge badge-error">Unavailable</span>;
}

export function ModelsPage() {
  const res = useResource(loadModels, 'models', REFRESH_MS);
  const models = res.data?.models ?? [];

  return (
    <section data-testid="page-models">
      <PageHeader
        title="Models"
        testId="models-header"
        description={
          <>
            Prices are USD per million tokens. Availability refreshes every {REFRESH_MS / 1000} s{res.updatedAt ? `; last checked ${formatDateTime(res.updatedAt)}` : ''}.
          </>
        }
        actions={
          <button className="btn" onClick={res.reload} data-testid="models-refresh">
            Refresh
          </button>
        }
      />
      {res.error && <ErrorState error={res.error} onRetry={res.reload} title="Models could not be loaded" />}
      {!res.data && !res.error && <Loading label="Loading models…" />}
      {res.data?.fromUsage && (
        <p className="notice" data-testid="models-from-usage">
          This server does not list models for management keys, so these are the models your keys have used. Call <code>GET /v1/models</code> with an inference key for prices and limits.
        </p>
      )}
      {res.data && models.length === 0 && <Empty title="No models to show">Ask your operator which models your organisation may use.</Empty>}
      {models.length > 0 && (
        <div className="card card-flush">
          <table className="table table-stack" data-testid="models-table">
            <thead>
              <tr>
                <th scope="col">Model</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">Context</th>
                <th scope="col" className="num">Max output</th>
                <th scope="col" className="num">Input / 1M</th>
                <th scope="col" className="num">Output / 1M</th>
              </tr>
            </thead>
            <tbody>
              {models.map((m) => (
                <tr key={m.id} data-testid="model-row" data-model={m.id}>
                  <td data-label="Model">
                    <div>
                      <span className="mono strong">{m.id}</span>{' '}
                      {m.mock && (
                        <span className="badge badge-info" title="Served by Tollgate's built-in mock provider, for demos and tests">
                          mock
                        </span>
                      )}
                      {m.owned_by && !m.mock && <div className="muted small">{m.owned_by}</div>}
                    </div>
                  </td>
                  <td data-label="Status">
                    <Availability available={m.available} />
                  </td>
                  <td data-label="Context" className="num">
                    {formatNumber(m.context_length)}
                  </td>
                  <td data-label="Max output" className="num">
                    {formatNumber(m.max_output_tokens)}
                  </td>
                  <td data-label="Input / 1M" className="num">
                    {formatUsd(m.pricing.input_per_mtok)}
                  </td>
                  <td data-label="Output / 1M" className="num">
                    {formatUsd(m.pricing.output_per_mtok)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
