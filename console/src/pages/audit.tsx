// The audit trail: who changed what (orgs, credit, keys, alert settings) and when, newest
// first, filterable by action, actor, target and time; the operator sees every organisation's.
import { type FormEvent, useState } from 'react';
import { type AuditFilters, listAudit, listOrgs } from '../api';
import { Dialog } from '../components/dialog';
import { SelectField, TextField } from '../components/fields';
import { PageHeader, Pager } from '../components/page-header';
import { Empty, ErrorState, Loading } from '../components/states';
import { formatDateTime, localInputToIso } from '../format';
import type { AuditEvent, Org } from '../types';
import { useResource } from '../use-resource';

const ACTIONS = [
  'org.create',
  'org.update',
  'org.disable',
  'org.enable',
  'credit.grant',
  'key.create',
  'key.update',
  'key.rotate',
  'key.revoke',
  'management_key.mint',
  'alerts.update',
  'alerts.secret_rotate',
  'admin_token.use',
];

interface FilterForm {
  action: string;
  actor: string;
  target: string;
  org_id: string;
  since: string;
  until: string;
}

const EMPTY_FORM: FilterForm = { action: '', actor: '', target: '', org_id: '', since: '', until: '' };

function AuditDetail({ event, onClose }: { event: AuditEvent; onClose: () => void }) {
  return (
    <Dialog title={`Audit record: ${event.action}`} onClose={onClose} testId="audit-detail">
      <dl className="detail-list">
        <div className="detail-row">
          <dt>Before</dt>
          <dd className="mono small" data-testid="audit-detail-before">
            <pre>{event.before ? JSON.stringify(event.before, null, 2) : '—'}</pre>
          </dd>
        </div>
        <div className="detail-row">
          <dt>After</dt>
          <dd className="mono small" data-testid="audit-detail-after">
            <pre>{event.after ? JSON.stringify(event.after, null, 2) : '—'}</pre>
          </dd>
        </div>
      </dl>
    </Dialog>
  );
}

export function AdminAuditPage() {
  return <AuditPage scope="operator" />;
}

export function AuditPage({ scope = 'org' }: { scope?: 'org' | 'operator' }) {
  const operator = scope === 'operator';
  const [form, setForm] = useState<FilterForm>(EMPTY_FORM);
  const [formError, setFormError] = useState<string | null>(null);
  const [filters, setFilters] = useState<AuditFilters>({});
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [selected, setSelected] = useState<AuditEvent | null>(null);
  const cursor = cursors[cursors.length - 1];

  const orgs = useResource((signal) => (operator ? listOrgs(signal).catch(() => [] as Org[]) : Promise.resolve([] as Org[])), `audit-orgs-${scope}`);
  const page = useResource((signal) => listAudit(scope, filters, cursor, signal), JSON.stringify([scope, filters, cursor]));
  const orgName = (id: string | null) => (id === null ? '—' : (orgs.data?.find((o) => o.id === id)?.name ?? id));

  const apply = (e: FormEvent) => {
    e.preventDefault();
    const since = localInputToIso(form.since);
    const until = localInputToIso(form.until);
    if (since && until && since >= until) {
      setFormError('“From” must be earlier than “To”.');
      return;
    }
    setFormError(null);
    setFilters({ action: form.action || undefined, actor: form.actor.trim() || undefined, target: form.target.trim() || undefined, org_id: form.org_id || undefined, since, until });
    setCursors([undefined]);
  };
  const reset = () => {
    setForm(EMPTY_FORM);
    setFormError(null);
    setFilters({});
    setCursors([undefined]);
  };

  const events = page.data?.data ?? [];
  const filtered = Object.values(filters).some(Boolean);

  return (
    <section data-testid={operator ? 'page-admin-audit' : 'page-audit'}>
      <PageHeader
        title="Audit trail"
        testId="audit-header"
        description={operator ? 'Every management action in every organisation, and reads with the admin token, newest first.' : 'Every change to this organisation, its keys, credit and alerts: who made it, when and from where.'}
        actions={
          <button className="btn" onClick={page.reload} data-testid="audit-refresh">
            Refresh
          </button>
        }
      />
      <form className="card filters" onSubmit={apply} noValidate data-testid="audit-filters">
        <SelectField label="Action" value={form.action} onChange={(action) => setForm({ ...form, action })} testId="audit-filter-action" options={[{ value: '', label: 'All actions' }, ...ACTIONS.map((a) => ({ value: a, label: a }))]} />
        {operator && (
          <SelectField
            label="Organisation"
            value={form.org_id}
            onChange={(org_id) => setForm({ ...form, org_id })}
            testId="audit-filter-org"
            options={[{ value: '', label: 'All organisations' }, ...(orgs.data ?? []).map((o) => ({ value: o.id, label: o.name }))]}
          />
        )}
        <TextField label="Actor" value={form.actor} onChange={(actor) => setForm({ ...form, actor })} testId="audit-filter-actor" placeholder="operator or mk-tg-…" mono />
        <TextField label="Target" value={form.target} onChange={(target) => setForm({ ...form, target })} testId="audit-filter-target" placeholder="org_… or key_…" mono />
        <TextField label="From" type="datetime-local" value={form.since} onChange={(since) => setForm({ ...form, since })} testId="audit-filter-from" />
        <TextField label="To" type="datetime-local" value={form.until} onChange={(until) => setForm({ ...form, until })} testId="audit-filter-to" error={formError} />
        <div className="filters-actions">
          <button type="submit" className="btn btn-primary" data-testid="audit-filter-apply">
            Apply filters
          </button>
          <button type="button" className="btn btn-quiet" onClick={reset} data-testid="audit-filter-reset">
            Clear
          </button>
        </div>
      </form>

      {page.error && <ErrorState error={page.error} onRetry={page.reload} title="The audit trail could not be loaded" />}
      {!page.data && !page.error && <Loading label="Loading the audit trail…" />}
      {page.data && events.length === 0 && (
        <Empty title={filtered ? 'No records match these filters' : 'No management actions yet'}>
          {filtered ? 'Widen the time range or clear the filters.' : 'Changes to keys, credit, settings and alerts appear here as they are made.'}
        </Empty>
      )}
      {page.data && events.length > 0 && (
        <div className="card card-flush">
          <table className="table table-stack" data-testid="audit-table">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Action</th>
                <th scope="col">Actor</th>
                {operator && <th scope="col">Organisation</th>}
                <th scope="col">Target</th>
                <th scope="col">From</th>
                <th scope="col">Detail</th>
              </tr>
            </thead>
            <tbody>
              {events.map((e) => (
                <tr key={e.id} data-testid="audit-row" data-action={e.action} data-target={e.target ?? ''}>
                  <td data-label="Time" className="small">
                    {formatDateTime(e.created_at)}
                  </td>
                  <td data-label="Action" className="mono small" data-testid="audit-action">
                    {e.action}
                  </td>
                  <td data-label="Actor" className="mono small" data-testid="audit-actor">
                    {e.actor}
                  </td>
                  {operator && (
                    <td data-label="Organisation" className="small">
                      {orgName(e.org_id)}
                    </td>
                  )}
                  <td data-label="Target" className="mono small">
                    {e.target ?? '—'}
                  </td>
                  <td data-label="From" className="mono small">
                    {e.source_ip ?? '—'}
                  </td>
                  <td data-label="Detail">
                    <button className="btn btn-small" onClick={() => setSelected(e)} data-testid="audit-detail-open" aria-label={`Details of ${e.action} at ${formatDateTime(e.created_at)}`}>
                      Before / after
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
      {selected && <AuditDetail event={selected} onClose={() => setSelected(null)} />}
    </section>
  );
}
