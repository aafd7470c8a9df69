// The three states every page can be in besides "showing data": loading, failed, empty.
import type { ReactNode } from 'react';
import type { ApiError } from '../api';
import { useSessionActions } from '../session-context';

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="state state-loading" role="status" data-testid="state-loading">
      <span className="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

export function ErrorState({ error, onRetry, title = 'Something went wrong' }: { error: ApiError; onRetry?: () => void; title?: string }) {
  const { logout } = useSessionActions();
  const credentialProblem = error.status === 401;
  return (
    <div className="state state-error" role="alert" data-testid="state-error">
      <strong>{title}</strong>
      <p data-testid="error-message">{error.message}</p>
      {error.code && <p className="muted small">Code: {error.code}</p>}
      <div className="row">
        {onRetry && (
          <button className="btn" onClick={onRetry}>
            Try again
          </button>
        )}
        {credentialProblem && (
          <button className="btn" onClick={logout}>
            Log in again
          </button>
        )}
      </div>
    </div>
  );
}

export function Empty({ title, children, testId = 'state-empty' }: { title: string; children?: ReactNode; testId?: string }) {
  return (
    <div className="state state-empty" data-testid={testId}>
      <strong>{title}</strong>
      {children && <div className="muted">{children}</div>}
    </div>
  );
}

/** An error from a form submission, shown next to the form that caused it. */
export function FormError({ error }: { error: string | null | undefined }) {
  if (!error) return null;
  return (
    <p className="form-error" role="alert" data-testid="form-error">
      {error}
    </p>
  );
}
