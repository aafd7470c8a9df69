// One field for both kinds of credential: a management key opens the org view, the admin
// token the operator view. The credential is checked before it is kept.
import { type FormEvent, useState } from 'react';
import { toApiError, verifyCredential } from '../api';
import { FormError } from '../components/states';
import type { Session } from '../session';

export function LoginPage({ onLogin }: { onLogin: (session: Session) => void }) {
  const [credential, setCredential] = useState('');
  const [reveal, setReveal] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    // A pasted key often carries a trailing newline; the secret itself never has whitespace.
    const value = credential.trim();
    if (!value) {
      setError('Paste a management key (mk-tg-…) or the admin token.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const role = await verifyCredential(value);
      onLogin({ credential: value, role });
    } catch (err) {
      setError(toApiError(err).message);
      setBusy(false);
    }
  };

  const looksLikeInferenceKey = credential.trim().startsWith('sk-tg-');

  return (
    <main className="login" id="main">
      <form className="login-card" onSubmit={submit} noValidate data-testid="login-form">
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden="true">T</span>
          Tollgate
        </div>
        <h1>Log in to the console</h1>
        <p className="muted">
          Paste a management key (<code>mk-tg-…</code>) to manage an organisation, or the admin token to operate the gateway. It is kept in this tab only and forgotten when you log out or close it.
        </p>
        <div className="field">
          <label className="field-label" htmlFor="credential">
            Management key or admin token
          </label>
          <div className="row">
            <input
              id="credential"
              className="input mono grow"
              type={reveal ? 'text' : 'password'}
              value={credential}
              autoComplete="off"
              spellCheck={false}
              aria-invalid={error ? true : undefined}
              aria-describedby={looksLikeInferenceKey ? 'credential-hint' : undefined}
              data-testid="login-credential"
              onChange={(e) => setCredential(e.target.value)}
            />
            <button type="button" className="btn" aria-pressed={reveal} onClick={() => setReveal((r) => !r)}>
              {reveal ? 'Hide' : 'Show'}
            </button>
          </div>
          {looksLikeInferenceKey && (
            <span id="credential-hint" className="field-hint">
              This looks like an inference key (sk-tg-…). Inference keys call the API; the console needs a management key or the admin token.
            </span>
          )}
        </div>
        <FormError error={error} />
        <button className="btn btn-primary btn-block" type="submit" disabled={busy} data-testid="login-submit">
          {busy ? 'Checking…' : 'Log in'}
        </button>
      </form>
    </main>
  );
}
