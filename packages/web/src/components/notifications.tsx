import type { Notification } from '@orderflow/client';
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { api } from '../lib/api';
import { useToast } from './common';

interface NotificationState {
  items: Notification[];
  unread: number;
  loading: boolean;
  error: unknown;
  /** True while the live stream is connected. */
  live: boolean;
  disabledEndpoints: string[];
  markRead: (id: string) => Promise<void>;
  refresh: () => void;
}

const Ctx = createContext<NotificationState>({
  items: [],
  unread: 0,
  loading: false,
  error: undefined,
  live: false,
  disabledEndpoints: [],
  markRead: async () => {},
  refresh: () => {},
});

export const useNotifications = () => useContext(Ctx);

/** Keeps the notification list current through the server's event stream. */
export function NotificationProvider({ children }: { children: ReactNode }) {
  const toast = useToast();
  const [items, setItems] = useState<Notification[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>(undefined);
  const [live, setLive] = useState(false);
  const [disabledEndpoints, setDisabled] = useState<string[]>([]);

  const refreshEndpoints = useCallback(() => {
    api.listEndpoints().then(
      (r) => setDisabled(r.items.filter((e) => !e.enabled && e.disabledReason).map((e) => e.key)),
      () => {},
    );
  }, []);

  const refresh = useCallback(() => {
    setLoading(true);
    api.listNotifications().then(
      (r) => {
        setItems(r.items);
        setError(undefined);
        setLoading(false);
      },
      (err: unknown) => {
        setError(err);
        setLoading(false);
      },
    );
    refreshEndpoints();
  }, [refreshEndpoints]);

  useEffect(() => {
    refresh();
    if (typeof EventSource === 'undefined') return;
    // The stream may replay recent notifications on connect; only newer ones pop up.
    const since = Date.now() - 5000;
    const source = new EventSource(api.notificationStreamUrl(), { withCredentials: true });
    source.onopen = () => setLive(true);
    source.onerror = () => setLive(false);
    const onMessage = (e: MessageEvent<string>) => {
      let n: Notification;
      try {
        n = JSON.parse(e.data) as Notification;
      } catch {
        return;
      }
      if (!n || typeof n.id !== 'string') return;
      setItems((list) => [n, ...list.filter((x) => x.id !== n.id)]);
      if (!n.readAt && Date.parse(n.createdAt) >= since) toast(n.message, n.severity === 'critical' ? 'error' : 'info');
      if (n.severity === 'critical') refreshEndpoints();
    };
    source.addEventListener('message', onMessage);
    source.addEventListener('notification', onMessage as EventListener);
    return () => source.close();
  }, [refresh, refreshEndpoints, toast]);

  const markRead = useCallback(async (id: string) => {
    const updated = await api.markNotificationRead(id);
    setItems((list) =>
      list.map((n) =>
        n.id === id
          ? { ...n, ...(updated && typeof updated === 'object' ? updated : {}), readAt: n.readAt ?? new Date().toISOString() }
          : n,
      ),
    );
  }, []);

  const value = useMemo(
    () => ({ items, unread: items.filter((n) => !n.readAt).length, loading, error, live, disabledEndpoints, markRead, refresh }),
    [items, loading, error, live, disabledEndpoints, markRead, refresh],
  );
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}
