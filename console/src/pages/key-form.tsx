// Create or edit an inference key. Numbers are checked here so the API only sees valid
// values; on edit only the fields that changed are sent.
import { type FormEvent, useState } from 'react';
import { type KeyFields, createKey, toApiError, updateKey } from '../api';
import { Dialog } from '../components/dialog';
import { type FallbackRow, FallbackEditor, rowsToRules, rulesToRows } from '../components/fallback-editor';
import { TextField } from '../components/fields';
import { ModelListInput } from '../components/model-list-input';
import { FormError } from '../components/states';
import { dateToLocalInput, localInputToIso } from '../format';
import type { ApiKey, CreatedKey } from '../types';
import { hasErrors, parseOptionalNumber } from '../validate';

interface KeyFormProps {
  /** absent: create a new key */
  existing?: ApiKey;
  suggestions: string[];
  onClose: () => void;
  onCreated: (created: CreatedKey, name: string) => void;
  onSaved: () => void;
}

const text = (n: number | null) => (n === null ? '' : String(n));

function sameList(a: string[] | null, b: string[] | null): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

export function KeyForm({ existing, suggestions, onClose, onCreated, onSaved }: KeyFormProps) {
  const [name, setName] = useState(existing?.name ?? '');
  const [budget, setBudget] = useState(text(existing?.budget_usd ?? null));
  const [rpm, setRpm] = useState(text(existing?.rpm ?? null));
  const [tpm, setTpm] = useState(text(existing?.tpm ?? null));
  const [models, setModels] = useState<string[]>(existing?.allowed_models ?? []);
  const [rows, setRows] = useState<FallbackRow[]>(() => rulesToRows(existing?.fallbacks ?? {}));
  const initialExpires = dateToLocalInput(existing?.expires_at ?? null);
  const [expires, setExpires] = useState(initialExpires);
  const [errors, setErrors] = useState<Record<string, string | null>>({});
  const [submitError, setSubmitError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const b = parseOptionalNumber(budget, { label: 'Budget' });
    const r = parseOptionalNumber(rpm, { label: 'Requests per minute', integer: true, min: 1 });
    const t = parseOptionalNumber(tpm, { label: 'Tokens per minute', integer: true, min: 1 });
    const fallback = rowsToRules(rows);
    const expiresIso = localInputToIso(expires);
    const found = {
      name: name.trim() ? null : 'Give the key a name, so you can tell it apart later.',
      budget: b.error,
      rpm: r.error,
      tpm: t.error,
      fallbacks: fallback.error,
      expires:
        expires && !expiresIso
          ? 'Enter a valid date and time.'
          : expiresIso && expires !== initialExpires && new Date(expiresIso).getTime() <= Date.now()
            ? 'The expiry must be in the future.'
            : null,
    };
    setErrors(found);
    if (hasErrors(found)) return;

    const allowed = models.length ? models : null;
    setBusy(true);
    setSubmitError(null);
    try {
      if (!existing) {
        const fields: KeyFields = { name: name.trim() };
        if (b.value !== null) fields.budget_usd = b.value;
        if (r.value !== null) fields.rpm = r.value;
        if (t.value !== null) fields.tpm = t.value;
        if (allowed) fields.allowed_models = allowed;
        if (Object.keys(fallback.rules).length) fields.fallbacks = fallback.rules;
        if (expiresIso) fields.expires_at = expiresIso;
        onCreated(await createKey(fields), name.trim());
      } else {
        const patch: KeyFields = {};
        if (name.trim() !== (existing.name ?? '')) patch.name = name.trim();
        if (b.value !== existing.budget_usd) patch.budget_usd = b.value;
        if (r.value !== existing.rpm) patch.rpm = r.value;
        if (t.value !== existing.tpm) patch.tpm = t.value;
        if (!sameList(allowed, existing.allowed_models?.length ? existing.allowed_models : null)) patch.allowed_models = allowed;
        if (JSON.stringify(fallback.rules) !== JSON.stringify(existing.fallbacks)) patch.fallbacks = fallback.rules;
        if (expires !== initialExpires) patch.expires_at = expiresIso ?? null;
        if (Object.keys(patch).length) await updateKey(existing.id, patch);
        onSaved();
      }
    } catch (err) {
      setSubmitError(toApiError(err).message);
      setBusy(false);
    }
  };

  return (
    <Dialog title={existing ? `Edit ${existing.name ?? existing.prefix}` : 'Create an inference key'} onClose={onClose} testId="key-form" wide>
      <form className="stack" onSubmit={submit} noValidate>
        <TextField label="Name" value={name} onChange={setName} required error={errors.name} testId="key-name" placeholder="e.g. production-backend" />
        <div className="grid-3">
          <TextField
            label="Budget (USD)"
            value={budget}
            onChange={setBudget}
            inputMode="decimal"
            error={errors.budget}
            testId="key-budget"
            hint="Empty: no cap beyond the org balance."
          />
          <TextField label="Requests per minute" value={rpm} onChange={setRpm} inputMode="numeric" error={errors.rpm} testId="key-rpm" hint="Empty: the gateway default." />
          <TextField label="Tokens per minute" value={tpm} onChange={setTpm} inputMode="numeric" error={errors.tpm} testId="key-tpm" hint="Empty: no token limit." />
        </div>
        <ModelListInput
          label="Allowed models"
          value={models}
          onChange={setModels}
          suggestions={suggestions}
          emptyText="Every model the organisation may use."
          testId="key-models"
        />
        <FallbackEditor rows={rows} onChange={setRows} suggestions={suggestions} error={errors.fallbacks} />
        <TextField
          label="Expires at (your local time)"
          type="datetime-local"
          value={expires}
          onChange={setExpires}
          error={errors.expires}
          testId="key-expires"
          hint="Empty: never expires."
        />
        <FormError error={submitError} />
        <div className="dialog-actions">
          <button type="button" className="btn" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="btn btn-primary" disabled={busy} data-testid="key-submit">
            {busy ? 'Saving…' : existing ? 'Save changes' : 'Create key'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
