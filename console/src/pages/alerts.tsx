// Where and when Tollgate tells the org about trouble, with a test send to check the wiring.
import { type FormEvent, useEffect, useState } from 'react';
import { getAlerts, putAlerts, testAlerts, toApiError } from '../api';
import { CheckboxField, TextField } from '../components/fields';
import { PageHeader } from '../components/page-header';
import { ErrorState, FormError, Loading } from '../components/states';
import { asObject } from '../normalize';
import { ALERT_EVENTS, type AlertSettings } from '../types';
import { useResource } from '../use-resource';
import { checkEmail, checkUrl, hasErrors, parseOptionalNumber } from '../validate';

const EVENT_TEXT: Record<(typeof ALERT_EVENTS)[number], { label: string; hint: string }> = {
  'model.unavailable': { label: 'Model unavailable', hint: 'A model you use lost its last healthy channel.' },
  'model.recovered': { label: 'Model recovered', hint: 'That model is serving again.' },
  'balance.low': { label: 'Balance low', hint: 'The org balance fell below the threshold below.' },
  'budget.threshold': { label: 'Key budget threshold', hint: 'A key passed the set share of its budget.' },
};

interface Form {
  webhook_url: string;
  email: string;
  events: string[];
  balance_low_usd: string;
  budget_threshold_pct: string;
}

function toForm(s: AlertSettings): Form {
  return {
    webhook_url: s.webhook_url ?? '',
    email: s.email ?? '',
    events: s.events,
    balance_low_usd: s.balance_low_usd === null ? '' : String(s.balance_low_usd),
    budget_threshold_pct: s.budget_threshold_pct === null ? '' : String(s.budget_threshold_pct),
  };
}

type Scalar = string | number | boolean | null;

/** Flattens the delivery report into label/value lines; nested channel results become "webhook status: 200". */
export function describeResult(value: unknown, prefix = ''): [string, Scalar][] {
  const out: [string, Scalar][] = [];
  for (const [k, v] of Object.entries(asObject(value))) {
    const words = (prefix ? `${prefix} ${k}` : k).replace(/_/g, ' ');
    const label = words.charAt(0).toUpperCase() + words.slice(1);
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...describeResult(v, label));
    else if (Array.isArray(v)) out.push([label, v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : String(x))).join(', ')]);
    else out.push([label, v as Scalar]);
  }
  return out;
}

type Outcome = 'ok' | 'partial' | 'failed';

const OUTCOME_TEXT: Record<Outcome, string> = { ok: 'Test alert delivered', partial: 'Some deliveries failed', failed: 'Test alert not delivered' };

/** Reads the per-channel `delivered` / `ok` flags of the report; a report without flags counts as sent. */
function judgeDelivery(lines: [string, Scalar][]): Outcome {
  const flags = lines.filter(([k, v]) => typeof v === 'boolean' && /(^|\s)(ok|delivered|success)$/.test(k)).map(([, v]) => v);
  const errors = lines.some(([k, v]) => /(^|\s)error$/.test(k) && Boolean(v));
  if (flags.length === 0) return errors ? 'failed' : 'ok';
  if (flags.every(Boolean) && !errors) return 'ok';
  return flags.some(Boolean) ? 'partial' : 'failed';
}

export function AlertsPage() {
  const settings = useResource((signal) => getAlerts(signal), 'alerts');
  const [form, setForm] = useState<Form | null>(null);
  const [errors, setErrors] = useState<Record<string, string | null>>({});
  const [saveError, setSaveError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);
  const [testing, setTesting] = useState(false);
  const [testResult, setTestResult] = useState<{ outcome: Outcome; lines: [string, Scalar][]; message?: string } | null>(null);

  useEffect(() => {
    if (settings.data) setForm(toForm(settings.data));
  }, [settings.data]);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!form) return;
    const low = parseOptionalNumber(form.balance_low_usd, { label: 'Low balance threshold' });
    const pct = parseOptionalNumber(form.budget_threshold_pct, { label: 'Budget threshold', min: 1, max: 100 });
    const found = {
      webhook_url: checkUrl(form.webhook_url),
      email: checkEmail(form.email),
      balance_low_usd: low.error ?? (form.events.includes('balance.low') && low.value === null ? 'Set the balance that counts as low.' : null),
      budget_threshold_pct: pct.error ?? (form.events.includes('budget.threshold') && pct.value === null ? 'Set the share of the budget, e.g. 80.' : null),
      events: form.events.length > 0 && !form.webhook_url.trim() && !form.email.trim() ? 'Add a webhook URL or an email address to receive these events.' : null,
    };
    setErrors(found);
    setSaved(false);
    if (hasErrors(found)) return;
    setBusy(true);
    setSaveError(null);
    try {
      const next = await putAlerts({
        webhook_url: form.webhook_url.trim() || null,
        email: form.email.trim() || null,
        events: form.events,
        balance_low_usd: low.value,
        budget_threshold_pct: pct.value,
      });
      setForm(toForm(next));
      setSaved(true);
    } catch (err) {
      setSaveError(toApiError(err).message);
    } finally {
      setBusy(false);
    }
  };

  const runTest = async () => {
    setTesting(true);
    setTestResult(null);
    try {
      const result = await testAlerts();
      const lines = describeResult(result);
      setTestResult({ outcome: judgeDelivery(lines), lines });
    } catch (err) {
      setTestResult({ outcome: 'failed', lines: [], message: toApiError(err).message });
    } finally {
      setTesting(false);
    }
  };

  const toggleEvent = (event: string, on: boolean) => {
    if (!form) return;
    setForm({ ...form, events: on ? [...form.events, event] : form.events.filter((e) => e !== event) });
  };

  return (
    <section data-testid="page-alerts">
      <PageHeader title="Alerts" testId="alerts-header" description="Webhooks are signed JSON POSTs (X-Tollgate-Signature); each event is sent once per change, not once per failing request." />
      {settings.error && !form && <ErrorState error={settings.error} onRetry={settings.reload} title="Alert settings could not be loaded" />}
      {!form && !settings.error && <Loading label="Loading alert settings…" />}
      {form && (
        <div className="split">
          <form className="card stack" onSubmit={save} noValidate data-testid="alerts-form">
            <h2>Delivery</h2>
            <TextField
              label="Webhook URL"
              type="url"
              value={form.webhook_url}
              onChange={(webhook_url) => setForm({ ...form, webhook_url })}
              error={errors.webhook_url}
              placeholder="https://example.com/hooks/tollgate"
              testId="alerts-webhook"
            />
            <TextField label="Email" type="email" value={form.email} onChange={(email) => setForm({ ...form, email })} error={errors.email} placeholder="ops@example.com" testId="alerts-email" />
            <fieldset className="fieldset">
              <legend className="field-label">Events</legend>
              {ALERT_EVENTS.map((event) => (
                <CheckboxField
                  key={event}
                  label={EVENT_TEXT[event].label}
                  hint={`${event} — ${EVENT_TEXT[event].hint}`}
                  checked={form.events.includes(event)}
                  onChange={(on) => toggleEvent(event, on)}
                  testId={`alerts-event-${event}`}
                />
              ))}
              {errors.events && <p className="field-error">{errors.events}</p>}
            </fieldset>
            <div className="grid-2">
              <TextField
                label="Low balance threshold (USD)"
                value={form.balance_low_usd}
                onChange={(balance_low_usd) => setForm({ ...form, balance_low_usd })}
                inputMode="decimal"
                error={errors.balance_low_usd}
                testId="alerts-balance-low"
              />
              <TextField
                label="Key budget threshold (%)"
                value={form.budget_threshold_pct}
                onChange={(budget_threshold_pct) => setForm({ ...form, budget_threshold_pct })}
                inputMode="decimal"
                error={errors.budget_threshold_pct}
                testId="alerts-budget-pct"
              />
            </div>
            <FormError error={saveError} />
            <div className="row">
              <button type="submit" className="btn btn-primary" disabled={busy} data-testid="alerts-save">
                {busy ? 'Saving…' : 'Save settings'}
              </button>
              <span className="muted small" role="status" data-testid="alerts-saved">
                {saved ? 'Saved.' : ''}
              </span>
            </div>
          </form>
          <div className="card stack">
            <h2>Test delivery</h2>
            <p className="muted">Sends a test event to the saved webhook and email, and shows what came back. Save your changes first.</p>
            <div>
              <button className="btn" onClick={runTest} disabled={testing} data-testid="alerts-test">
                {testing ? 'Sending…' : 'Send test alert'}
              </button>
            </div>
            <div aria-live="polite" data-testid="alerts-test-result">
              {testResult && (
                <div className={`result result-${testResult.outcome}`} data-outcome={testResult.outcome}>
                  <strong>{OUTCOME_TEXT[testResult.outcome]}</strong>
                  {testResult.message && <p>{testResult.message}</p>}
                  {testResult.lines.length > 0 && (
                    <dl className="detail-list">
                      {testResult.lines.map(([k, v]) => (
                        <div key={k} className="detail-row">
                          <dt>{k}</dt>
                          <dd>{v === null ? '—' : v === true ? 'Yes' : v === false ? 'No' : String(v)}</dd>
                        </div>
                      ))}
                    </dl>
                  )}
                </div>
              )}
            </div>
          </div>
        </div>
      )}
    </section>
  );
}
