import type { Role } from '@orderflow/core';
import { type ReactNode, useCallback, useEffect, useState } from 'react';
import { useAutomation } from './components/automation';
import { Dialog, ErrorBoundary, ErrorBox, Loading, ToastProvider } from './components/common';
import { NotificationProvider, useNotifications } from './components/notifications';
import { api, UNAUTHORIZED_EVENT } from './lib/api';
import { Link, matchPath, navigate, useLocation, usePendingNavigation } from './lib/router';
import { abilitiesOf, SessionContext } from './lib/session';
import { BoardPage } from './pages/BoardPage';
import { BuilderPage } from './pages/BuilderPage';
import { DashboardPage } from './pages/DashboardPage';
import { DeliveriesPage } from './pages/DeliveriesPage';
import { EndpointsPage } from './pages/EndpointsPage';
import { MailboxPage } from './pages/MailboxPage';
import { MigratePage } from './pages/MigratePage';
import { NotificationsPage } from './pages/NotificationsPage';
import { OrderPage } from './pages/OrderPage';
import { OrdersPage } from './pages/OrdersPage';
import { RulesPage } from './pages/RulesPage';
import { SignInPage } from './pages/SignInPage';
import { TemplatesPage } from './pages/TemplatesPage';
import { VersionsPage } from './pages/VersionsPage';
import { WorkflowsPage } from './pages/WorkflowsPage';

type SessionState = { status: 'loading' } | { status: 'signed-out' } | { status: 'error'; error: unknown } | { status: 'in'; role: Role };

export function App() {
  const [session, setSession] = useState<SessionState>({ status: 'loading' });
  const check = useCallback(() => {
    api.session().then(
      (s) => setSession({ status: 'in', role: s.role }),
      (err: unknown) => {
        const status = (err as { status?: number }).status;
        setSession(status === 401 || status === 403 ? { status: 'signed-out' } : { status: 'error', error: err });
      },
    );
  }, []);
  useEffect(() => {
    check();
    const onUnauthorized = () => setSession({ status: 'signed-out' });
    window.addEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
    return () => window.removeEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
  }, [check]);

  let body: ReactNode;
  if (session.status === 'loading') body = <Loading label="Starting…" />;
  else if (session.status === 'error')
    body = (
      <main className="centered">
        <ErrorBox error={session.error} onRetry={check} />
      </main>
    );
  else if (session.status === 'signed-out') body = <SignInPage onSignedIn={(role) => setSession({ status: 'in', role })} />;
  else
    body = (
      <SessionContext.Provider value={abilitiesOf(session.role)}>
        <NotificationProvider>
          <Shell
            role={session.role}
            onSignOut={() => {
              api.signOut().finally(() => {
                setSession({ status: 'signed-out' });
                navigate('/', { replace: true, force: true });
              });
            }}
          />
        </NotificationProvider>
      </SessionContext.Provider>
    );
  return <ToastProvider>{body}</ToastProvider>;
}

const NAV: { to: string; label: string; id: string; match: (p: string) => boolean }[] = [
  { to: '/', label: 'Dashboard', id: 'dashboard', match: (p) => p === '/' },
  { to: '/workflows', label: 'Workflows', id: 'workflows', match: (p) => p.startsWith('/workflows') },
  { to: '/board', label: 'Board', id: 'board', match: (p) => p.startsWith('/board') },
  { to: '/orders', label: 'Orders', id: 'orders', match: (p) => p.startsWith('/orders') },
  { to: '/deliveries', label: 'Deliveries', id: 'deliveries', match: (p) => p.startsWith('/deliveries') },
  { to: '/notifications', label: 'Notifications', id: 'notifications', match: (p) => p.startsWith('/notifications') },
  { to: '/mailbox', label: 'Mailbox', id: 'mailbox', match: (p) => p.startsWith('/mailbox') },
  { to: '/templates', label: 'Templates', id: 'templates', match: (p) => p.startsWith('/templates') },
  { to: '/endpoints', label: 'Endpoints', id: 'endpoints', match: (p) => p.startsWith('/endpoints') },
];

function Shell({ role, onSignOut }: { role: Role; onSignOut: () => void }) {
  const { path } = useLocation();
  const { unread, disabledEndpoints } = useNotifications();
  const [automation] = useAutomation();
  const pendingNavigation = usePendingNavigation();
  // On a phone the navigation folds into a "Menu" button; it folds again after each move.
  const [navOpen, setNavOpen] = useState(false);
  // biome-ignore lint/correctness/useExhaustiveDependencies: closing on every path change is the point
  useEffect(() => setNavOpen(false), [path]);
  return (
    <div className="shell">
      <nav className={`sidebar${navOpen ? ' open' : ''}`} aria-label="Main">
        <div className="brand">
          <span>
            <span className="logo" aria-hidden="true">
              ◆
            </span>{' '}
            Orderflow
          </span>
          <button
            type="button"
            className="menu-toggle"
            aria-expanded={navOpen}
            aria-controls="main-nav-list"
            onClick={() => setNavOpen((o) => !o)}
          >
            {unread > 0 && !navOpen ? `Menu (${unread})` : 'Menu'}
          </button>
        </div>
        <ul id="main-nav-list">
          {NAV.map((item) => (
            <li key={item.id}>
              <Link to={item.to} className={item.match(path) ? 'active' : undefined} data-testid={`nav-${item.id}`}>
                {item.label}
                {item.id === 'notifications' && unread > 0 && (
                  <span className="badge" data-testid="unread-badge">
                    {unread}
                  </span>
                )}
              </Link>
            </li>
          ))}
        </ul>
        <div className="sidebar-footer">
          <span className="role" data-testid="session-role">
            {role}
          </span>
          <button type="button" className="link" onClick={onSignOut} data-testid="sign-out">
            Sign out
          </button>
        </div>
      </nav>
      <main className="content">
        {disabledEndpoints.length > 0 && (
          <div className="banner banner-critical" role="alert" data-testid="endpoint-banner">
            Webhook endpoint{disabledEndpoints.length > 1 ? 's' : ''} disabled after repeated failures: {disabledEndpoints.join(', ')}.{' '}
            <Link to="/endpoints">Review endpoints</Link>
          </div>
        )}
        {automation?.paused && (
          <div className="banner banner-warn" role="status" data-testid="automation-banner">
            Automation is paused: no rule runs, and deliveries and timers are held until it is resumed.{' '}
            <Link to="/deliveries">Deliveries</Link>
          </div>
        )}
        <ErrorBoundary resetKey={path}>
          <Route path={path} />
        </ErrorBoundary>
      </main>
      {pendingNavigation && (
        <Dialog
          title="Unsaved changes"
          onClose={pendingNavigation.stay}
          testId="leave-dialog"
          footer={
            <>
              <button type="button" onClick={pendingNavigation.stay}>
                Stay
              </button>
              <button type="button" className="primary danger" onClick={pendingNavigation.leave}>
                Leave without saving
              </button>
            </>
          }
        >
          <p>This page has changes that are not saved. If you leave now, they are lost.</p>
        </Dialog>
      )}
    </div>
  );
}

const ROUTES: [string, (params: Record<string, string>) => ReactNode][] = [
  ['/', () => <DashboardPage />],
  ['/workflows', () => <WorkflowsPage />],
  ['/workflows/:key', (p) => <BuilderPage key={p.key} workflowKey={p.key ?? ''} />],
  ['/workflows/:key/rules', (p) => <RulesPage key={p.key} workflowKey={p.key ?? ''} />],
  ['/workflows/:key/versions', (p) => <VersionsPage key={p.key} workflowKey={p.key ?? ''} />],
  ['/workflows/:key/migrate', (p) => <MigratePage key={p.key} workflowKey={p.key ?? ''} />],
  ['/board', () => <BoardPage />],
  ['/orders', () => <OrdersPage />],
  ['/orders/:id', (p) => <OrderPage key={p.id} orderId={p.id ?? ''} />],
  ['/deliveries', () => <DeliveriesPage />],
  ['/notifications', () => <NotificationsPage />],
  ['/mailbox', () => <MailboxPage />],
  ['/templates', () => <TemplatesPage />],
  ['/endpoints', () => <EndpointsPage />],
];

function Route({ path }: { path: string }) {
  for (const [pattern, render] of ROUTES) {
    const params = matchPath(pattern, path);
    if (params) return render(params);
  }
  return (
    <div className="page">
      <h1>Not found</h1>
      <p>
        There is no page at this address. <Link to="/">Go to the dashboard</Link>
      </p>
    </div>
  );
}
