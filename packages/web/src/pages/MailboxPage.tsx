import { useState } from 'react';
import { Empty, ErrorBox, Loaded, Loading, PageHeader } from '../components/common';
import { EmailFrame } from '../components/email-frame';
import { api } from '../lib/api';
import { formatTime } from '../lib/format';
import { Link } from '../lib/router';
import { useResource } from '../lib/use-resource';

export function MailboxPage() {
  const list = useResource(() => api.listMailbox(), []);
  const [openId, setOpenId] = useState<string | null>(null);
  return (
    <div className="page">
      <PageHeader title="Mailbox" subtitle="Emails are kept here when no SMTP server is configured.">
        <button type="button" onClick={list.reload} data-testid="mailbox-refresh">
          Refresh
        </button>
      </PageHeader>
      <Loaded resource={list}>
        {(r) =>
          r.items.length === 0 ? (
            <Empty>The mailbox is empty.</Empty>
          ) : (
            <div className="mailbox">
              <ul className="mail-list" data-testid="mail-list">
                {r.items.map((m) => (
                  <li key={m.id}>
                    <button
                      type="button"
                      className={`mail-item${(openId ?? r.items[0]?.id) === m.id ? ' active' : ''}`}
                      onClick={() => setOpenId(m.id)}
                      data-testid={`mail-${m.id}`}
                    >
                      <strong className="mail-subject">{m.subject}</strong>
                      <span className="muted small">
                        to {m.to} · {formatTime(m.createdAt)}
                      </span>
                    </button>
                  </li>
                ))}
              </ul>
              <MailView id={openId ?? r.items[0]?.id ?? ''} />
            </div>
          )
        }
      </Loaded>
    </div>
  );
}

function MailView({ id }: { id: string }) {
  const mail = useResource(() => api.getMail(id), [id]);
  const [tab, setTab] = useState<'html' | 'text'>('html');
  if (!id) return null;
  if (mail.error) return <ErrorBox error={mail.error} onRetry={mail.reload} />;
  if (!mail.data) return <Loading />;
  const m = mail.data;
  return (
    <article className="mail-view card" data-testid="mail-view">
      <h2 data-testid="mail-subject">{m.subject}</h2>
      <dl className="mail-headers">
        <dt>To</dt>
        <dd>{m.to}</dd>
        {m.cc && (
          <>
            <dt>Cc</dt>
            <dd>{m.cc}</dd>
          </>
        )}
        <dt>Date</dt>
        <dd>{formatTime(m.createdAt)}</dd>
        {m.deliveryId && (
          <>
            <dt>Delivery</dt>
            <dd>
              <Link to="/deliveries" className="mono small">
                {m.deliveryId}
              </Link>
            </dd>
          </>
        )}
      </dl>
      <div className="segmented">
        <button type="button" className={tab === 'html' ? 'on' : ''} onClick={() => setTab('html')}>
          HTML
        </button>
        <button type="button" className={tab === 'text' ? 'on' : ''} onClick={() => setTab('text')}>
          Text
        </button>
      </div>
      {tab === 'html' ? (
        <EmailFrame html={m.html} title={`Email: ${m.subject}`} height={420} testId="mail-frame" />
      ) : (
        <pre className="mail-text">{m.text}</pre>
      )}
    </article>
  );
}
