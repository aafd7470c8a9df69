// Inference keys of the org: create (shown once), edit limits and routing, disable, rotate
// with an overlap so deployments can switch without downtime, and revoke.
import { type FormEvent, useState } from 'react';
import { createManagementKey, listKeys, listOrgModels, revokeKey, rotateKey, toApiError, updateKey } from '../api';
import { ConfirmDialog, Dialog } from '../components/dialog';
import { TextField } from '../components/fields';
import { PageHeader } from '../components/page-header';
import { RevealDialog } from '../components/reveal-dialog';
import { Empty, ErrorState, FormError, Loading } from '../components/states';
import { formatDateTime, formatNumber, formatUsd } from '../format';
import type { ApiKey, CreatedKey } from '../types';
import { useResource } from '../use-resource';
import { parseRequiredNumber } from '../validate';
import { KeyForm } from './key-form';

type Modal =
  | { kind: 'create' }
  | { kind: 'edit'; key: ApiKey }
  | { kind: 'rotate'; key: ApiKey }
  | { kind: 'revoke'; key: ApiKey }
  | { kind: 'reveal'; title: string; secret: string; note?: string };

const STATUS_LABEL: Record<ApiKey['status'], string> = { active: 'Active', disabled: 'Disabled', revoked: 'Revoked', expired: 'Expired' };

function RotateDialog({ apiKey, onClose, onRotated }: { apiKey: ApiKey; onClose: () => void; onRotated: (created: CreatedKey, hours: number) => void }) {
  const [hours, setHours] = useState('24');
  const [error, setError] = useState<string | null>(null);
  const [submitError, setSubmitError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseRequiredNumber(hours, { label: 'Overlap', max: 720 });
    setError(parsed.error);
    if (parsed.error || parsed.value === null) return;
    setBusy(true);
    setSubmitError(null);
    try {
      onRotated(await rotateKey(apiKey.id, Math.round(parsed.value * 3600)), parsed.value);
    } catch (err) {
      setSubmitError(toApiError(err).message);
      setBusy(false);
    }
  };

  return (
    <Dialog title={`Rotate ${apiKey.name ?? apiKey.prefix}`} onClose={onClose} testId="rotate-dialog">
      <form className="stack" onSubmit={submit} noValidate>
        <p>
          Rotation issues a new key. The current key <code>{apiKey.prefix}</code> keeps working for the overlap, so you can deploy the new one without downtime.
        </p>
        <TextField label="Overlap (hours)" value={hours} onChange={setHours} inputMode="decimal" error={error} testId="rotate-overlap" hint="0 ends the old key at once." />
        <FormError error={submitError} />
        <div className="dialog-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="rotate-submit">
            {busy ? 'Rotating…' : 'Rotate key'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function KeyRow({ apiKey, onAction, busy }: { apiKey: ApiKey; onAction: (modal: Modal | { kind: 'toggle'; key: ApiKey }) => void; busy: boolean }) {
  const k = apiKey;
  const live = k.status === 'active' || k.status === 'disabled';
  const fallbackCount = Object.keys(k.fallbacks).length;
  return (
    <tr data-testid="key-row" data-key-id={k.id} data-status={k.status}>
      <td data-label="Key">
        <div>
          <div className="strong" data-testid="key-row-name">
            {k.name ?? 'Unnamed key'}{' '}
            {k.kind === 'management' && (
              <span className="badge badge-info" title="Logs in to this console and manages keys; cannot call /v1">
                management
              </span>
            )}
          </div>
          <div className="mono small muted">{k.prefix}</div>
        </div>
      </td>
      <td data-label="Status">
        <span className={`badge badge-${k.status}`} data-testid="key-status">
          {STATUS_LABEL[k.status]}
        </span>
      </td>
      <td data-label="Spend / budget" className="num" data-testid="key-budget-cell">
        {formatUsd(k.spend_usd ?? 0)} / {k.budget_usd === null ? 'no cap' : formatUsd(k.budget_usd)}
      </td>
      <td data-label="Limits" className="small">
        <div>
          <div>{k.rpm === null ? 'default rpm' : `${formatNumber(k.rpm)} rpm`}</div>
          <div>{k.tpm === null ? 'no tpm limit' : `${formatNumber(k.tpm)} tpm`}</div>
        </div>
      </td>
      <td data-label="Models" className="small" data-testid="key-models-cell">
        <div>
          <div>{k.allowed_models?.length ? k.allowed_models.join(', ') : 'All allowed'}</div>
          {fallbackCount > 0 && (
            <div className="muted" data-testid="key-fallbacks-cell">
              Fallbacks:{' '}
              {Object.entries(k.fallbacks)
                .map(([m, t]) => `${m} → ${t.join(' → ')}`)
                .join('; ')}
            </div>
          )}
        </div>
      </td>
      <td data-label="Expires" className="small">
        {k.expires_at ? formatDateTime(k.expires_at) : 'Never'}
      </td>
      <td data-label="Actions">
        {live ? (
          <div className="actions">
            <button className="btn btn-small" onClick={() => onAction({ kind: 'edit', key: k })} data-testid="key-edit">
              Edit
            </button>
            <button className="btn btn-small" disabled={busy} onClick={() => onAction({ kind: 'toggle', key: k })} data-testid="key-toggle">
              {k.disabled ? 'Enable' : 'Disable'}
            </button>
            <button className="btn btn-small" onClick={() => onAction({ kind: 'rotate', key: k })} data-testid="key-rotate">
              Rotate
            </button>
            <button className="btn btn-small btn-danger" onClick={() => onAction({ kind: 'revoke', key: k })} data-testid="key-revoke">
              Revoke
            </button>
          </div>
        ) : (
          <span className="muted small">No actions</span>
        )}
      </td>
    </tr>
  );
}

export function KeysPage() {
  const keys = useResource((signal) => listKeys(signal), 'keys');
  const models = useResource((signal) => listOrgModels(signal).catch(() => []), 'models');
  const [modal, setModal] = useState<Modal | null>(null);
  const [mkBusy, setMkBusy] = useState(false);
  // Another admin of this organisation gets a key of their own (mk-tg-…), shown once.
  const newManagementKey = async () => {
    setMkBusy(true);
    setActionError(null);
    try {
      const created = await createManagementKey('console admin');
      setModal({ kind: 'reveal', title: 'Management key created', secret: created.key, note: 'This key (mk-tg-…) logs in to the console for this organisation and manages its keys.' });
      keys.reload();
    } catch (err) {
      setActionError(toApiError(err).message);
    } finally {
      setMkBusy(false);
    }
  };
  const [busyId, setBusyId] = useState<string | null>(null);
  const [actionError, setActionError] = useState<string | null>(null);
  const [showInactive, setShowInactive] = useState(false);
  const suggestions = (models.data ?? []).map((m) => m.id);

  const close = () => setModal(null);

  const toggle = async (k: ApiKey) => {
    setBusyId(k.id);
    setActionError(null);
    try {
      await updateKey(k.id, { disabled: !k.disabled });
      keys.reload();
    } catch (err) {
      setActionError(toApiError(err).message);
    } finally {
      setBusyId(null);
    }
  };

  const [revokeError, setRevokeError] = useState<string | null>(null);
  const revoke = async (k: ApiKey) => {
    setBusyId(k.id);
    setRevokeError(null);
    try {
      await revokeKey(k.id);
      setModal(null);
      keys.reload();
    } catch (err) {
      setRevokeError(toApiError(err).message);
    } finally {
      setBusyId(null);
    }
  };

  const all = keys.data ?? [];
  const visible = showInactive ? all : all.filter((k) => k.status === 'active' || k.status === 'disabled');
  const hidden = all.length - visible.length;

  return (
    <section data-testid="page-keys">
      <PageHeader
        title="Keys"
        testId="keys-header"
        description="Inference keys (sk-tg-…) let applications call /v1 with any OpenAI SDK. Management keys (mk-tg-…) log in here."
        actions={
          <div className="actions">
            <button className="btn" disabled={mkBusy} onClick={newManagementKey} data-testid="mk-create">
              New management key
            </button>
            <button className="btn btn-primary" onClick={() => setModal({ kind: 'create' })} data-testid="key-create">
              Create key
            </button>
          </div>
        }
      />
      <FormError error={actionError} />
      {keys.error && <ErrorState error={keys.error} onRetry={keys.reload} title="Keys could not be loaded" />}
      {!keys.data && !keys.error && <Loading label="Loading keys…" />}
      {keys.data && all.length === 0 && (
        <Empty title="No keys yet">Create a key, then call Tollgate with it as the API key of any OpenAI SDK.</Empty>
      )}
      {keys.data && all.length > 0 && (
        <div className="card card-flush">
          <table className="table table-stack" data-testid="keys-table">
            <thead>
              <tr>
                <th scope="col">Key</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">Spend / budget</th>
                <th scope="col">Limits</th>
                <th scope="col">Models</th>
                <th scope="col">Expires</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {visible.map((k) => (
                <KeyRow key={k.id} apiKey={k} busy={busyId === k.id} onAction={(a) => (a.kind === 'toggle' ? toggle(a.key) : setModal(a))} />
              ))}
            </tbody>
          </table>
          {(hidden > 0 || showInactive) && (
            <div className="card-foot">
              <button className="btn btn-quiet" onClick={() => setShowInactive((s) => !s)} data-testid="keys-show-inactive">
                {showInactive ? 'Hide revoked and expired keys' : `Show ${hidden} revoked or expired key${hidden === 1 ? '' : 's'}`}
              </button>
            </div>
          )}
        </div>
      )}

      {modal?.kind === 'create' && (
        <KeyForm
          suggestions={suggestions}
          onClose={close}
          onSaved={close}
          onCreated={(created, name) => {
            setModal({ kind: 'reveal', title: `Key “${name}” created`, secret: created.key });
            keys.reload();
          }}
        />
      )}
      {modal?.kind === 'edit' && (
        <KeyForm
          existing={modal.key}
          suggestions={suggestions}
          onClose={close}
          onCreated={close}
          onSaved={() => {
            close();
            keys.reload();
          }}
        />
      )}
      {modal?.kind === 'rotate' && (
        <RotateDialog
          apiKey={modal.key}
          onClose={close}
          onRotated={(created, hours) => {
            setModal({
              kind: 'reveal',
              title: 'Key rotated',
              secret: created.key,
              note: hours > 0 ? `The old key ${modal.key.prefix} keeps working for ${hours} hour${hours === 1 ? '' : 's'}.` : `The old key ${modal.key.prefix} no longer works.`,
            });
            keys.reload();
          }}
        />
      )}
      {modal?.kind === 'revoke' && (
        <ConfirmDialog
          title={`Revoke ${modal.key.name ?? modal.key.prefix}?`}
          message={
            <p>
              Requests with <code>{modal.key.prefix}</code> will fail with <code>invalid_api_key</code> at once. This cannot be undone; to pause a key, disable it instead.
            </p>
          }
          confirmLabel="Revoke key"
          busy={busyId === modal.key.id}
          error={revokeError}
          onConfirm={() => revoke(modal.key)}
          onClose={() => {
            setRevokeError(null);
            close();
          }}
        />
      )}
      {modal?.kind === 'reveal' && <RevealDialog title={modal.title} secret={modal.secret} note={modal.note} onClose={close} />}
    </section>
  );
}
