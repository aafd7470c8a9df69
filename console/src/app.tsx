// The shell: who is logged in decides which pages exist; the hash decides which one shows.
import { type ComponentType, useCallback, useEffect, useMemo, useState } from 'react';
import { AdminModelsPage } from './pages/admin-models';
import { AlertsPage } from './pages/alerts';
import { BillingPage } from './pages/billing';
import { KeysPage } from './pages/keys';
import { LoginPage } from './pages/login';
import { ModelsPage } from './pages/models';
import { OrgsPage } from './pages/orgs';
import { OverviewPage } from './pages/overview';
import { TrafficPage } from './pages/traffic';
import { AdminAuditPage, AuditPage } from './pages/audit';
import { AdminUsagePage, UsagePage } from './pages/usage';
import { href, navigate, useRoute } from './router';
import { type Session, clearSession, loadSession, saveSession } from './session';
import { SessionContext } from './session-context';

interface PageDef {
  path: string;
  label: string;
  id: string;
  component: ComponentType;
}

const ORG_PAGES: PageDef[] = [
  { path: '/overview', label: 'Overview', id: 'overview', component: OverviewPage },
  { path: '/keys', label: 'Keys', id: 'keys', component: KeysPage },
  { path: '/usage', label: 'Usage', id: 'usage', component: UsagePage },
  { path: '/billing', label: 'Billing', id: 'billing', component: BillingPage },
  { path: '/alerts', label: 'Alerts', id: 'alerts', component: AlertsPage },
  { path: '/models', label: 'Models', id: 'models', component: ModelsPage },
  { path: '/audit', label: 'Audit trail', id: 'audit', component: AuditPage },
];

const OPERATOR_PAGES: PageDef[] = [
  { path: '/orgs', label: 'Organisations', id: 'orgs', component: OrgsPage },
  { path: '/traffic', label: 'Traffic', id: 'traffic', component: TrafficPage },
  { path: '/usage', label: 'Usage', id: 'admin-usage', component: AdminUsagePage },
  { path: '/models', label: 'Models & channels', id: 'admin-models', component: AdminModelsPage },
  { path: '/audit', label: 'Audit trail', id: 'admin-audit', component: AdminAuditPage },
];

export function App() {
  const [session, setSession] = useState<Session | null>(loadSession);
  const route = useRoute();
  const [navOpen, setNavOpen] = useState(false);

  const logout = useCallback(() => {
    clearSession();
    setSession(null);
    navigate('/login');
  }, []);
  const actions = useMemo(() => ({ logout }), [logout]);

  const pages = session?.role === 'operator' ? OPERATOR_PAGES : ORG_PAGES;
  const page = pages.find((p) => p.path === route.path);

  useEffect(() => {
    if (session && !page) navigate(pages[0].path);
  }, [session, page, pages]);

  useEffect(() => {
    setNavOpen(false);
    document.title = session && page ? `${page.label} · Tollgate` : 'Log in · Tollgate';
  }, [session, page]);

  if (!session) {
    return (
      <LoginPage
        onLogin={(next) => {
          saveSession(next);
          setSession(next);
          navigate(next.role === 'operator' ? '/orgs' : '/overview');
        }}
      />
    );
  }

  const Current = (page ?? pages[0]).component;
  return (
    <SessionContext.Provider value={actions}>
      {/* A button, not an in-page link: the hash belongs to the router. */}
      <button className="skip-link" onClick={() => document.getElementById('main')?.focus()}>
        Skip to content
      </button>
      <header className="topbar">
        <div className="topbar-inner">
          <a className="brand" href={href(pages[0].path)}>
            <span className="brand-mark" aria-hidden="true">T</span>
            Tollgate
          </a>
          <span className="badge badge-view" data-testid="view-badge">
            {session.role === 'operator' ? 'Operator' : 'Organisation'}
          </span>
          <button
            className="btn nav-toggle"
            aria-expanded={navOpen}
            aria-controls="main-nav"
            onClick={() => setNavOpen((o) => !o)}
            data-testid="nav-toggle"
          >
            Menu
          </button>
          <nav id="main-nav" className={navOpen ? 'nav nav-open' : 'nav'} aria-label="Console">
            <ul>
              {pages.map((p) => (
                <li key={p.id}>
                  <a href={href(p.path)} aria-current={p === page ? 'page' : undefined} data-testid={`nav-${p.id}`}>
                    {p.label}
                  </a>
                </li>
              ))}
            </ul>
            <button className="btn btn-quiet logout" onClick={logout} data-testid="logout">
              Log out
            </button>
          </nav>
        </div>
      </header>
      <main id="main" className="content" tabIndex={-1}>
        <Current key={session.role + (page?.id ?? '')} />
      </main>
    </SessionContext.Provider>
  );
}
