import { Empty, ErrorBox, Loading, PageHeader, useToast } from '../components/common';
import { useNotifications } from '../components/notifications';
import { errorText } from '../lib/api';
import { formatTime } from '../lib/format';
import { Link } from '../lib/router';
import { useAbilities } from '../lib/session';

export function NotificationsPage() {
  const { items, unread, loading, error, live, markRead, refresh } = useNotifications();
  const toast = useToast();
  // Read state is shared by everyone: a viewer (read only) cannot mark a notification read.
  const canMark = useAbilities().role !== 'viewer';
  const sorted = [...items].sort((a, b) => Number(!!a.readAt) - Number(!!b.readAt) || b.createdAt.localeCompare(a.createdAt));
  return (
    <div className="page">
      <PageHeader title="Notifications" subtitle={`${unread} unread`}>
        <span className={`live ${live ? 'on' : 'off'}`} data-testid="live-indicator">
          {live ? '● live' : '○ reconnecting'}
        </span>
        <button type="button" onClick={refresh}>
          Refresh
        </button>
        {unread > 0 && canMark && (
          <button
            type="button"
            onClick={async () => {
              try {
                for (const n of items.filter((x) => !x.readAt)) await markRead(n.id);
              } catch (err) {
                toast(errorText(err), 'error');
              }
            }}
          >
            Mark all read
          </button>
        )}
      </PageHeader>
      {error !== undefined && <ErrorBox error={error} onRetry={refresh} />}
      {loading && items.length === 0 && <Loading />}
      {!loading && items.length === 0 && !error && <Empty>No notifications. Rules with a notify action post them here, live.</Empty>}
      <ul className="notifications" data-testid="notifications-list">
        {sorted.map((n) => (
          <li key={n.id} className={`notification sev-${n.severity} ${n.readAt ? 'read' : 'unread'}`} data-testid={`notification-${n.id}`}>
            <div>
              <span className={`pill sev-${n.severity}`}>{n.severity}</span> <span className="muted small">#{n.channel}</span>{' '}
              <span className="muted small">{formatTime(n.createdAt)}</span>
            </div>
            <p>{n.message}</p>
            <div className="row">
              {n.orderId && <Link to={`/orders/${encodeURIComponent(n.orderId)}`}>Open order</Link>}
              {!n.readAt && canMark && (
                <button
                  type="button"
                  className="small"
                  onClick={() => markRead(n.id).catch((err: unknown) => toast(errorText(err), 'error'))}
                  data-testid={`mark-read-${n.id}`}
                >
                  Mark read
                </button>
              )}
            </div>
          </li>
        ))}
      </ul>
    </div>
  );
}
