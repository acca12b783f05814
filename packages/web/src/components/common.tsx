import type { Group } from '@orderflow/core';
import { GROUP_LABELS } from '@orderflow/core';
import { Component, createContext, type ReactNode, useCallback, useContext, useEffect, useId, useRef, useState } from 'react';
import { describeError } from '../lib/api';
import type { Resource } from '../lib/use-resource';

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="loading" role="status" data-testid="loading">
      <span className="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const d = describeError(error);
  return (
    <div className="error-box" role="alert" data-testid="error">
      <strong>{d.title}</strong>
      {d.detail && <p>{d.detail}</p>}
      {d.code && <p className="muted small">code: {d.code}</p>}
      {onRetry && (
        <button type="button" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** Catches a screen's rendering failure and shows a message instead of a blank page (never a stack trace). */
export class ErrorBoundary extends Component<{ children: ReactNode; resetKey: string }, { error: unknown; key: string }> {
  state = { error: undefined as unknown, key: this.props.resetKey };
  static getDerivedStateFromError(error: unknown) {
    return { error };
  }
  static getDerivedStateFromProps(props: { resetKey: string }, state: { error: unknown; key: string }) {
    return props.resetKey !== state.key ? { error: undefined, key: props.resetKey } : null;
  }
  render() {
    if (this.state.error !== undefined) {
      return (
        <div className="page">
          <ErrorBox
            error={new Error('This screen could not be shown. Reload the page or go back.')}
            onRetry={() => this.setState({ error: undefined })}
          />
        </div>
      );
    }
    return this.props.children;
  }
}

export function Empty({ children }: { children: ReactNode }) {
  return (
    <div className="empty" data-testid="empty">
      {children}
    </div>
  );
}

/** Renders loading, error or the loaded data of a resource. */
export function Loaded<T>({ resource, children }: { resource: Resource<T>; children: (data: T) => ReactNode }) {
  if (resource.data === undefined && resource.error) return <ErrorBox error={resource.error} onRetry={resource.reload} />;
  if (resource.data === undefined) return <Loading />;
  return (
    <>
      {resource.error ? <ErrorBox error={resource.error} onRetry={resource.reload} /> : null}
      {children(resource.data)}
    </>
  );
}

export function PageHeader({ title, children, subtitle }: { title: ReactNode; subtitle?: ReactNode; children?: ReactNode }) {
  return (
    <header className="page-header">
      <div>
        <h1>{title}</h1>
        {subtitle && <p className="muted">{subtitle}</p>}
      </div>
      {children && <div className="actions">{children}</div>}
    </header>
  );
}

export function GroupBadge({ group }: { group: Group | 'unknown' }) {
  return <span className={`group-badge group-${group}`}>{group === 'unknown' ? group : GROUP_LABELS[group]}</span>;
}

export function StateBadge({ name, color }: { name: string; color?: string | undefined }) {
  return (
    <span className="state-badge">
      <span className="dot" style={{ background: color ?? '#94a3b8' }} />
      {name}
    </span>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span className={`status status-${status}`}>{status}</span>;
}

/** A modal dialog; Escape or the backdrop closes it. */
export function Dialog({
  title,
  onClose,
  children,
  footer,
  testId,
  wide,
}: {
  title: ReactNode;
  onClose: () => void;
  children: ReactNode;
  footer?: ReactNode;
  testId?: string;
  wide?: boolean;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const titleId = useId();
  const closeRef = useRef(onClose);
  closeRef.current = onClose;
  // Focus moves in once, when the dialog opens; a re-render of the page behind must not pull it back.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') closeRef.current();
    };
    window.addEventListener('keydown', onKey);
    ref.current?.querySelector<HTMLElement>('input, select, textarea, button:not([aria-label="Close"])')?.focus();
    return () => window.removeEventListener('keydown', onKey);
  }, []);
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: a click on the backdrop closes; Escape does the same for keyboards
    <div
      className="backdrop"
      role="presentation"
      onMouseDown={(e) => {
        if (e.target === e.currentTarget) onClose();
      }}
    >
      <div
        className={`dialog${wide ? ' wide' : ''}`}
        role="dialog"
        aria-modal="true"
        aria-labelledby={titleId}
        data-testid={testId}
        ref={ref}
      >
        <header>
          <h2 id={titleId}>{title}</h2>
          <button type="button" className="icon" aria-label="Close" onClick={onClose}>
            ×
          </button>
        </header>
        <div className="dialog-body">{children}</div>
        {footer && <footer>{footer}</footer>}
      </div>
    </div>
  );
}

interface Toast {
  id: number;
  text: string;
  kind: 'info' | 'success' | 'error';
}

const ToastContext = createContext<(text: string, kind?: Toast['kind']) => void>(() => {});
/** Shows a short message in the corner. */
export const useToast = () => useContext(ToastContext);

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const next = useRef(1);
  const show = useCallback((text: string, kind: Toast['kind'] = 'info') => {
    const id = next.current++;
    setToasts((t) => [...t.slice(-3), { id, text, kind }]);
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), kind === 'error' ? 9000 : 4000);
  }, []);
  return (
    <ToastContext.Provider value={show}>
      {children}
      <div className="toasts" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} className={`toast toast-${t.kind}`} data-testid={`toast-${t.kind}`}>
            {t.text}
            <button type="button" className="icon" aria-label="Dismiss" onClick={() => setToasts((x) => x.filter((y) => y.id !== t.id))}>
              ×
            </button>
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}

/** A JSON text area that reports parse errors instead of throwing. */
export function JsonField({
  value,
  onChange,
  rows = 8,
  testId,
  readOnly,
}: {
  value: unknown;
  onChange?: (value: unknown) => void;
  rows?: number;
  testId?: string;
  readOnly?: boolean;
}) {
  const [text, setText] = useState(() => JSON.stringify(value ?? null, null, 2));
  const [error, setError] = useState<string | null>(null);
  const last = useRef(value);
  useEffect(() => {
    if (JSON.stringify(last.current) !== JSON.stringify(value)) {
      last.current = value;
      setText(JSON.stringify(value ?? null, null, 2));
      setError(null);
    }
  }, [value]);
  return (
    <div className="json-field">
      <textarea
        className="mono"
        rows={rows}
        value={text}
        readOnly={readOnly}
        spellCheck={false}
        data-testid={testId}
        onChange={(e) => {
          setText(e.target.value);
          try {
            const parsed = JSON.parse(e.target.value) as unknown;
            setError(null);
            last.current = parsed;
            onChange?.(parsed);
          } catch (err) {
            setError(err instanceof Error ? err.message : 'Invalid JSON');
          }
        }}
      />
      {error && <p className="field-error">{error}</p>}
    </div>
  );
}
