// Operator view of every organisation: balances, caps and model access, with credit grants.
import { useState } from 'react';
import { listAdminModels, listOrgs, mintOrgManagementKey, toApiError, updateOrg } from '../api';
import { PageHeader } from '../components/page-header';
import { RevealDialog } from '../components/reveal-dialog';
import { Empty, ErrorState, FormError, Loading } from '../components/states';
import { formatDateTime, formatUsd } from '../format';
import type { Org } from '../types';
import { useResource } from '../use-resource';
import { CreateOrgDialog, CreditDialog, EditOrgDialog } from './org-dialogs';

type Modal =
  | { kind: 'create' }
  | { kind: 'credit'; org: Org }
  | { kind: 'edit'; org: Org }
  | { kind: 'reveal'; org: string; key: string }
  | { kind: 'reveal-mk'; org: string; key: string };

export function OrgsPage() {
  const orgs = useResource((signal) => listOrgs(signal), 'orgs');
  const models = useResource((signal) => listAdminModels(signal).catch(() => []), 'admin-models');
  const [modal, setModal] = useState<Modal | null>(null);
  const [busyId, setBusyId] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const suggestions = (models.data ?? []).map((m) => m.id);
  const close = () => setModal(null);

  const toggle = async (org: Org) => {
    setBusyId(org.id);
    setActionError(null);
    try {
      await updateOrg(org.id, { disabled: !org.disabled });
      orgs.reload();
    } catch (err) {
      setActionError(toApiError(err).message);
    } finally {
      setBusyId(null);
    }
  };

  // A management key for an organisation's admin, minted by the operator and shown once.
  const mintKey = async (org: Org) => {
    setBusyId(org.id);
    setActionError(null);
    try {
      const created = await mintOrgManagementKey(org.id, 'operator-issued');
      setModal({ kind: 'reveal-mk', org: org.name, key: created.key });
    } catch (err) {
      setActionError(toApiError(err).message);
    } finally {
      setBusyId(null);
    }
  };

  const list = orgs.data ?? [];

  return (
    <section data-testid="page-orgs">
      <PageHeader
        title="Organisations"
        testId="orgs-header"
        description="Each organisation has a prepaid balance, its own keys and its own model access."
        actions={
          <button className="btn btn-primary" onClick={() => setModal({ kind: 'create' })} data-testid="org-create">
            Create organisation
          </button>
        }
      />
      <FormError error={actionError} />
      {notice && (
        <p className="notice" role="status" data-testid="orgs-notice">
          {notice}
        </p>
      )}
      {orgs.error && <ErrorState error={orgs.error} onRetry={orgs.reload} title="Organisations could not be loaded" />}
      {!orgs.data && !orgs.error && <Loading label="Loading organisations…" />}
      {orgs.data && list.length === 0 && <Empty title="No organisations yet">Create one to hand out its management key.</Empty>}
      {list.length > 0 && (
        <div className="card card-flush">
          <table className="table table-stack" data-testid="orgs-table">
            <thead>
              <tr>
                <th scope="col">Organisation</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">Balance</th>
                <th scope="col" className="num">Spend cap</th>
                <th scope="col">Models</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.map((org) => (
                <tr key={org.id} data-testid="org-row" data-org-id={org.id}>
                  <td data-label="Organisation">
                    <div>
                      <div className="strong" data-testid="org-row-name">
                        {org.name}
                      </div>
                      <div className="mono small muted">{org.id}</div>
                      {org.created_at && <div className="small muted">since {formatDateTime(org.created_at)}</div>}
                    </div>
                  </td>
                  <td data-label="Status">
                    <span className={org.disabled ? 'badge badge-disabled' : 'badge badge-active'} data-testid="org-status">
                      {org.disabled ? 'Disabled' : 'Active'}
                    </span>
                  </td>
                  <td data-label="Balance" className="num" data-testid="org-balance">
                    {formatUsd(org.balance_usd)}
                  </td>
                  <td data-label="Spend cap" className="num">
                    {org.spend_cap_usd === null ? 'No cap' : formatUsd(org.spend_cap_usd)}
                  </td>
                  <td data-label="Models" className="small">
                    {org.allowed_models?.length ? org.allowed_models.join(', ') : 'All models'}
                  </td>
                  <td data-label="Actions">
                    <div className="actions">
                      <button className="btn btn-small" onClick={() => setModal({ kind: 'credit', org })} data-testid="org-credit">
                        Grant credit
                      </button>
                      <button className="btn btn-small" onClick={() => setModal({ kind: 'edit', org })} data-testid="org-edit">
                        Edit
                      </button>
                      <button className="btn btn-small" disabled={busyId === org.id} onClick={() => mintKey(org)} data-testid="org-mint-mk">
                        New management key
                      </button>
                      <button className="btn btn-small" disabled={busyId === org.id} onClick={() => toggle(org)} data-testid="org-toggle">
                        {org.disabled ? 'Enable' : 'Disable'}
                      </button>
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      {modal?.kind === 'create' && (
        <CreateOrgDialog
          suggestions={suggestions}
          onClose={close}
          onCreated={(org, key) => {
            setModal({ kind: 'reveal', org: org.name, key });
            orgs.reload();
          }}
        />
      )}
      {modal?.kind === 'credit' && (
        <CreditDialog
          org={modal.org}
          onClose={close}
          onCredited={(balance) => {
            setNotice(balance === null ? `Credit granted to ${modal.org.name}.` : `Credit granted to ${modal.org.name}. New balance: ${formatUsd(balance)}.`);
            close();
            orgs.reload();
          }}
        />
      )}
      {modal?.kind === 'edit' && (
        <EditOrgDialog
          org={modal.org}
          suggestions={suggestions}
          onClose={close}
          onSaved={() => {
            close();
            orgs.reload();
          }}
        />
      )}
      {modal?.kind === 'reveal-mk' && (
        <RevealDialog
          title={`Management key for “${modal.org}”`}
          secret={modal.key}
          note="This key (mk-tg-…) logs in to the console for this organisation and manages its keys. Hand it to the organisation’s admin."
          onClose={close}
        />
      )}
      {modal?.kind === 'reveal' && (
        <RevealDialog
          title={`Organisation “${modal.org}” created`}
          secret={modal.key}
          note="This management key (mk-tg-…) logs in to the console for this organisation and manages its keys. Hand it to the organisation’s admin."
          onClose={close}
        />
      )}
    </section>
  );
}
