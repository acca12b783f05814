import type { Role } from '@orderflow/core';
import { type FormEvent, useState } from 'react';
import { api, describeError } from '../lib/api';

export function SignInPage({ onSignedIn }: { onSignedIn: (role: Role) => void }) {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await api.signIn(token.trim());
      onSignedIn(s.role);
    } catch (err) {
      const d = describeError(err);
      setError(d.code === 'unauthorized' ? 'That token was not accepted.' : `${d.title}${d.detail ? `: ${d.detail}` : ''}`);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin">
      <form className="card signin-card" onSubmit={submit}>
        <h1>
          <span className="logo" aria-hidden="true">
            ◆
          </span>{' '}
          Orderflow
        </h1>
        <p className="muted">
          Sign in with an API token: the admin token printed on first start (also in <code>data/admin-token</code>), or one made with{' '}
          <code>orderflow token create --role …</code>.
        </p>
        <label>
          Token
          <input
            type="password"
            autoComplete="current-password"
            value={token}
            onChange={(e) => setToken(e.target.value)}
            data-testid="signin-token"
            required
          />
        </label>
        {error && (
          <p className="field-error" role="alert" data-testid="signin-error">
            {error}
          </p>
        )}
        <button type="submit" className="primary" disabled={busy || !token.trim()} data-testid="signin-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
