import type { ReactNode } from 'react';

export function PageHeader({ title, description, actions, testId }: { title: string; description?: ReactNode; actions?: ReactNode; testId: string }) {
  return (
    <div className="page-header" data-testid={testId}>
      <div>
        <h1>{title}</h1>
        {description && <p className="muted">{description}</p>}
      </div>
      {actions && <div className="page-actions">{actions}</div>}
    </div>
  );
}

export function Pager({
  page,
  hasNext,
  onNext,
  onPrevious,
  busy,
}: {
  page: number;
  hasNext: boolean;
  onNext: () => void;
  onPrevious: () => void;
  busy?: boolean;
}) {
  return (
    <nav className="pager" aria-label="Pages">
      <button className="btn" onClick={onPrevious} disabled={page <= 1 || busy} data-testid="page-previous">
        Previous page
      </button>
      <span className="muted small" data-testid="page-number">
        Page {page}
      </span>
      <button className="btn" onClick={onNext} disabled={!hasNext || busy} data-testid="page-next">
        Next page
      </button>
    </nav>
  );
}

export function StatCard({ label, value, detail, testId }: { label: string; value: ReactNode; detail?: ReactNode; testId: string }) {
  return (
    <div className="stat" data-testid={testId}>
      <span className="stat-label">{label}</span>
      <span className="stat-value" data-testid={`${testId}-value`}>
        {value}
      </span>
      {detail && <span className="stat-detail muted small">{detail}</span>}
    </div>
  );
}
