// Operator forms: create an org (its first management key is shown once), grant credit,
// and edit an org's model list and spend cap.
import { type FormEvent, useState } from 'react';
import { createOrg, creditOrg, toApiError, updateOrg } from '../api';
import { Dialog } from '../components/dialog';
import { TextField } from '../components/fields';
import { ModelListInput } from '../components/model-list-input';
import { FormError } from '../components/states';
import { formatUsd } from '../format';
import type { Org } from '../types';
import { hasErrors, newUuid, parseOptionalNumber, parseRequiredNumber } from '../validate';

export function CreateOrgDialog({
  suggestions,
  onClose,
  onCreated,
}: {
  suggestions: string[];
  onClose: () => void;
  onCreated: (org: Org, managementKey: string) => void;
}) {
  const [name, setName] = useState('');
  const [credits, setCredits] = useState('');
  const [cap, setCap] = useState('');
  const [models, setModels] = useState<string[]>([]);
  const [errors, setErrors] = useState<Record<string, string | null>>({});
  const [submitError, setSubmitError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const c = parseOptionalNumber(credits, { label: 'Starting credit' });
    const s = parseOptionalNumber(cap, { label: 'Spend cap' });
    const found = { name: name.trim() ? null : 'Name the organisation.', credits: c.error, cap: s.error };
    setErrors(found);
    if (hasErrors(found)) return;
    setBusy(true);
    setSubmitError(null);
    try {
      const body: Parameters<typeof createOrg>[0] = { name: name.trim() };
      if (c.value !== null) body.credits_usd = c.value;
      if (s.value !== null) body.spend_cap_usd = s.value;
      if (models.length) body.allowed_models = models;
      const created = await createOrg(body);
      onCreated(created.org, created.management_key);
    } catch (err) {
      setSubmitError(toApiError(err).message);
      setBusy(false);
    }
  };

  return (
    <Dialog title="Create an organisation" onClose={onClose} testId="org-form" wide>
      <form className="stack" onSubmit={submit} noValidate>
        <TextField label="Name" value={name} onChange={setName} required error={errors.name} testId="org-name" placeholder="e.g. acme" />
        <div className="grid-2">
          <TextField label="Starting credit (USD)" value={credits} onChange={setCredits} inputMode="decimal" error={errors.credits} testId="org-credits" hint="Empty: start at $0.00." />
          <TextField label="Spend cap (USD)" value={cap} onChange={setCap} inputMode="decimal" error={errors.cap} testId="org-cap" hint="Empty: no cap." />
        </div>
        <ModelListInput label="Allowed models" value={models} onChange={setModels} suggestions={suggestions} emptyText="Every configured model." testId="org-models" />
        <FormError error={submitError} />
        <div className="dialog-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="org-submit">
            {busy ? 'Creating…' : 'Create organisation'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function CreditDialog({ org, onClose, onCredited }: { org: Org; onClose: () => void; onCredited: (balance: number | null) => void }) {
  // One idempotency key per opened form: a double click or a retry after a timeout grants once.
  const [idempotencyKey] = useState(newUuid);
  const [amount, setAmount] = useState('');
  const [note, setNote] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [submitError, setSubmitError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (busy) return;
    const a = parseRequiredNumber(amount, { label: 'Amount', positive: true });
    setError(a.error);
    if (a.error || a.value === null) return;
    setBusy(true);
    setSubmitError(null);
    try {
      onCredited(await creditOrg(org.id, { amount_usd: a.value, note: note.trim() || undefined, idempotency_key: idempotencyKey }));
    } catch (err) {
      setSubmitError(toApiError(err).message);
      setBusy(false);
    }
  };

  return (
    <Dialog title={`Grant credit to ${org.name}`} onClose={onClose} testId="credit-form">
      <form className="stack" onSubmit={submit} noValidate>
        <p className="muted">Current balance: {formatUsd(org.balance_usd)}. Requests refused for lack of credit work again as soon as the grant lands.</p>
        <TextField label="Amount (USD)" value={amount} onChange={setAmount} inputMode="decimal" required error={error} testId="credit-amount" />
        <TextField label="Note" value={note} onChange={setNote} testId="credit-note" placeholder="e.g. invoice 2026-031" />
        <p className="muted small">
          Idempotency key <code data-testid="credit-idempotency">{idempotencyKey}</code>: submitting this form twice applies the grant once.
        </p>
        <FormError error={submitError} />
        <div className="dialog-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="credit-submit">
            {busy ? 'Granting…' : 'Grant credit'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function EditOrgDialog({ org, suggestions, onClose, onSaved }: { org: Org; suggestions: string[]; onClose: () => void; onSaved: () => void }) {
  const [cap, setCap] = useState(org.spend_cap_usd === null ? '' : String(org.spend_cap_usd));
  const [models, setModels] = useState<string[]>(org.allowed_models ?? []);
  const [error, setError] = useState<string | null>(null);
  const [submitError, setSubmitError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const c = parseOptionalNumber(cap, { label: 'Spend cap' });
    setError(c.error);
    if (c.error) return;
    setBusy(true);
    setSubmitError(null);
    try {
      await updateOrg(org.id, { spend_cap_usd: c.value, allowed_models: models.length ? models : null });
      onSaved();
    } catch (err) {
      setSubmitError(toApiError(err).message);
      setBusy(false);
    }
  };

  return (
    <Dialog title={`Edit ${org.name}`} onClose={onClose} testId="org-edit-form" wide>
      <form className="stack" onSubmit={submit} noValidate>
        <TextField label="Spend cap (USD)" value={cap} onChange={setCap} inputMode="decimal" error={error} testId="org-edit-cap" hint="Empty: no cap." />
        <ModelListInput label="Allowed models" value={models} onChange={setModels} suggestions={suggestions} emptyText="Every configured model." testId="org-edit-models" />
        <FormError error={submitError} />
        <div className="dialog-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="org-edit-submit">
            {busy ? 'Saving…' : 'Save changes'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
