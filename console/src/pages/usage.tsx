// The per-request log: filter by key (or, for the operator, by organisation), model and time,
// page with the server's cursor, and open any request to see what it cost and how it was served.
import { type FormEvent, useState } from 'react';
import { type AdminUsageFilters, getRequestLog, listAdminUsage, listKeys, listOrgs, listUsage } from '../api';
import { Dialog } from '../components/dialog';
import { SelectField, TextField } from '../components/fields';
import { PageHeader, Pager } from '../components/page-header';
import { Empty, ErrorState, Loading } from '../components/states';
import { formatDateTime, formatMs, formatNumber, formatUsd, localInputToIso } from '../format';
import type { ApiKey, Org, UsageRecord } from '../types';
import { useResource } from '../use-resource';

function statusClass(status: number): string {
  if (status >= 200 && status < 300) return 'badge badge-ok';
  if (status === 402 || status === 429) return 'badge badge-warn';
  return 'badge badge-error';
}

function keyLabel(keys: ApiKey[] | undefined, id: string): string {
  const k = keys?.find((x) => x.id === id);
  return k ? (k.name ?? k.prefix) : id;
}

/** JSON shown indented when it parses, as sent otherwise (streams, cut bodies). */
function pretty(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

/** The request and response bodies, when the org keeps request logs. */
function RequestBodies({ requestId }: { requestId: string }) {
  const kept = useResource((signal) => getRequestLog(requestId, signal), `request-log-${requestId}`);
  if (kept.error) return <p className="small muted">Bodies could not be loaded: {kept.error.message}</p>;
  if (kept.data === undefined) return <p className="small muted">Loading bodies…</p>;
  if (kept.data === null) {
    return (
      <p className="small muted" data-testid="request-log-off">
        Request and response bodies are not kept for this request. Turn request logs on with <code>PUT /api/request-logs</code>.
      </p>
    );
  }
  const log = kept.data;
  return (
    <div className="request-log">
      <h3 className="small">Request{log.truncated ? ' (cut at 64k characters)' : ''}</h3>
      <pre className="mono small code-block" data-testid="request-log-request">
        {pretty(log.request)}
      </pre>
      <h3 className="small">Response</h3>
      <pre className="mono small code-block" data-testid="request-log-response">
        {pretty(log.response)}
      </pre>
      <p className="small muted">Kept until {formatDateTime(log.expires_at)}; secrets are redacted.</p>
    </div>
  );
}

function UsageDetail({ record, keys, onClose }: { record: UsageRecord; keys: ApiKey[] | undefined; onClose: () => void }) {
  const r = record;
  const rows: [string, string][] = [
    ['Request id', r.request_id],
    ['Time', formatDateTime(r.created_at)],
    ...(r.org_id !== null ? [['Organisation', r.org_name ?? r.org_id] as [string, string]] : []),
    ['Key', keyLabel(keys, r.key_id)],
    ['Model', r.model],
    ['Requested model', r.requested_model ?? r.model],
    ['Route', r.surface ?? '—'],
    ['Fallback', r.fallback ?? 'No'],
    ['Status', r.error_code ? `${r.status} ${r.error_code}` : String(r.status)],
    ['Prompt tokens', formatNumber(r.prompt_tokens)],
    ['Completion tokens', formatNumber(r.completion_tokens)],
    ['Cost', formatUsd(r.cost_usd)],
    ['Latency', formatMs(r.latency_ms)],
    ['Cached', r.cached ? `Yes (${r.cached})` : 'No'],
    ['Streamed', r.stream === null ? '—' : r.stream ? 'Yes' : 'No'],
    ['Token counts', r.estimated ? 'Estimated by Tollgate' : 'Reported by the provider'],
    ['Attempts', r.attempts === null ? '—' : String(r.attempts)],
  ];
  return (
    <Dialog title="Request detail" onClose={onClose} testId="usage-detail">
      <dl className="detail-list">
        {rows.map(([label, value]) => (
          <div key={label} className="detail-row">
            <dt>{label}</dt>
            <dd className={label === 'Request id' || label.includes('odel') ? 'mono' : undefined} data-testid={`detail-${label.toLowerCase().replace(/\s+/g, '-')}`}>
              {value}
            </dd>
          </div>
        ))}
      </dl>
      {r.org_id === null && <RequestBodies requestId={r.request_id} />}
    </Dialog>
  );
}

interface FilterForm {
  org_id: string;
  key_id: string;
  model: string;
  route: string;
  from: string;
  to: string;
}

const EMPTY_FORM: FilterForm = { org_id: '', key_id: '', model: '', route: '', from: '', to: '' };

/** The inference routes a request can come in on, as GET /api/usage?route= names them. */
const ROUTES: { value: string; label: string }[] = [
  { value: '', label: 'All routes' },
  { value: 'chat', label: 'Chat completions' },
  { value: 'messages', label: 'Messages' },
  { value: 'responses', label: 'Responses' },
  { value: 'completions', label: 'Completions (legacy)' },
  { value: 'embeddings', label: 'Embeddings' },
  { value: 'images', label: 'Images' },
  { value: 'transcriptions', label: 'Audio transcriptions' },
  { value: 'translations', label: 'Audio translations' },
];

/** The operator's usage log: every organisation's requests, with an organisation filter. */
export function AdminUsagePage() {
  return <UsagePage scope="operator" />;
}

export function UsagePage({ scope = 'org' }: { scope?: 'org' | 'operator' }) {
  const operator = scope === 'operator';
  const [form, setForm] = useState<FilterForm>(EMPTY_FORM);
  const [formError, setFormError] = useState<string | null>(null);
  const [filters, setFilters] = useState<AdminUsageFilters>({});
  // Cursors of the pages seen so far: going back reuses them instead of asking for offsets.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [selected, setSelected] = useState<UsageRecord | null>(null);
  const cursor = cursors[cursors.length - 1];

  const keys = useResource((signal) => (operator ? Promise.resolve([] as ApiKey[]) : listKeys(signal).catch(() => [] as ApiKey[])), `keys-${scope}`);
  const orgs = useResource((signal) => (operator ? listOrgs(signal).catch(() => [] as Org[]) : Promise.resolve([] as Org[])), `orgs-${scope}`);
  const page = useResource(
    (signal) => (operator ? listAdminUsage(filters, cursor, signal) : listUsage(filters, cursor, signal)),
    JSON.stringify([scope, filters, cursor]),
  );

  const apply = (e: FormEvent) => {
    e.preventDefault();
    const from = localInputToIso(form.from);
    const to = localInputToIso(form.to);
    if (from && to && from >= to) {
      setFormError('“From” must be earlier than “To”.');
      return;
    }
    setFormError(null);
    setFilters({ org_id: form.org_id || undefined, key_id: form.key_id || undefined, model: form.model.trim() || undefined, route: form.route || undefined, from, to });
    setCursors([undefined]);
  };

  const reset = () => {
    setForm(EMPTY_FORM);
    setFormError(null);
    setFilters({});
    setCursors([undefined]);
  };

  const records = page.data?.data ?? [];
  const models = Array.from(new Set(records.map((r) => r.model))).sort();
  const filtered = Object.values(filters).some(Boolean);

  return (
    <section data-testid={operator ? 'page-admin-usage' : 'page-usage'}>
      <PageHeader
        title="Usage log"
        testId="usage-header"
        description={operator ? 'Every organisation’s requests, newest first. Open one to see its tokens, cost and routing.' : 'Every request, newest first. Open one to see its tokens, cost and routing.'}
        actions={
          <button className="btn" onClick={page.reload} data-testid="usage-refresh">
            Refresh
          </button>
        }
      />
      <form className="card filters" onSubmit={apply} noValidate data-testid="usage-filters">
        {operator ? (
          <SelectField
            label="Organisation"
            value={form.org_id}
            onChange={(org_id) => setForm({ ...form, org_id })}
            testId="filter-org"
            options={[{ value: '', label: 'All organisations' }, ...(orgs.data ?? []).map((o) => ({ value: o.id, label: o.name }))]}
          />
        ) : (
          <SelectField
            label="Key"
            value={form.key_id}
            onChange={(key_id) => setForm({ ...form, key_id })}
            testId="filter-key"
            options={[{ value: '', label: 'All keys' }, ...(keys.data ?? []).map((k) => ({ value: k.id, label: `${k.name ?? 'Unnamed'} (${k.prefix})` }))]}
          />
        )}
        <TextField label="Model" value={form.model} onChange={(model) => setForm({ ...form, model })} testId="filter-model" list="usage-models" placeholder="any model" mono />
        <datalist id="usage-models">
          {models.map((m) => (
            <option key={m} value={m} />
          ))}
        </datalist>
        <SelectField label="Route" value={form.route} onChange={(route) => setForm({ ...form, route })} testId="filter-route" options={ROUTES} />
        <TextField label="From" type="datetime-local" value={form.from} onChange={(from) => setForm({ ...form, from })} testId="filter-from" />
        <TextField label="To" type="datetime-local" value={form.to} onChange={(to) => setForm({ ...form, to })} testId="filter-to" error={formError} />
        <div className="filters-actions">
          <button type="submit" className="btn btn-primary" data-testid="filter-apply">
            Apply filters
          </button>
          <button type="button" className="btn btn-quiet" onClick={reset} data-testid="filter-reset">
            Clear
          </button>
        </div>
      </form>

      {page.error && <ErrorState error={page.error} onRetry={page.reload} title="Usage could not be loaded" />}
      {!page.data && !page.error && <Loading label="Loading requests…" />}
      {page.data && records.length === 0 && (
        <Empty title={filtered ? 'No requests match these filters' : 'No requests yet'}>
          {filtered
            ? 'Widen the time range or clear the filters.'
            : operator
              ? 'Requests of every organisation appear here within a second.'
              : 'Requests made with this organisation’s keys appear here within a second.'}
          {cursors.length > 1 && <Pager page={cursors.length} hasNext={false} onNext={() => {}} onPrevious={() => setCursors(cursors.slice(0, -1))} />}
        </Empty>
      )}
      {page.data && records.length > 0 && (
        <div className="card card-flush">
          <table className="table table-stack" data-testid="usage-table">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Model</th>
                <th scope="col">{operator ? 'Organisation' : 'Key'}</th>
                <th scope="col" className="num">Tokens in / out</th>
                <th scope="col" className="num">Cost</th>
                <th scope="col" className="num">Latency</th>
                <th scope="col">Status</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {records.map((r) => (
                <tr key={r.request_id} data-testid="usage-row" data-request-id={r.request_id}>
                  <td data-label="Time" className="small">
                    {formatDateTime(r.created_at)}
                  </td>
                  <td data-label="Model" className="mono small">
                    <span>
                      {r.model}
                      {r.fallback && <span className="badge badge-info">fallback</span>}
                      {r.cached && <span className="badge badge-info">cached</span>}
                    </span>
                  </td>
                  <td data-label={operator ? 'Organisation' : 'Key'} className="small" data-testid="usage-owner">
                    {operator ? (r.org_name ?? r.org_id) : keyLabel(keys.data, r.key_id)}
                  </td>
                  <td data-label="Tokens" className="num">
                    {formatNumber(r.prompt_tokens)} / {formatNumber(r.completion_tokens)}
                  </td>
                  <td data-label="Cost" className="num">
                    {formatUsd(r.cost_usd)}
                  </td>
                  <td data-label="Latency" className="num">
                    {formatMs(r.latency_ms)}
                  </td>
                  <td data-label="Status">
                    <span className={statusClass(r.status)}>{r.error_code ? `${r.status} ${r.error_code}` : r.status}</span>
                  </td>
                  <td data-label="Detail">
                    <button className="btn btn-small" onClick={() => setSelected(r)} data-testid="usage-detail-open" aria-label={`Details of request ${r.request_id}`}>
                      Details
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="card-foot">
            <Pager
              page={cursors.length}
              hasNext={Boolean(page.data.next_cursor)}
              busy={page.loading}
              onNext={() => page.data?.next_cursor && setCursors([...cursors, page.data.next_cursor])}
              onPrevious={() => setCursors(cursors.slice(0, -1))}
            />
          </div>
        </div>
      )}
      {selected && <UsageDetail record={selected} keys={keys.data} onClose={() => setSelected(null)} />}
    </section>
  );
}
