import type { Delivery } from '@orderflow/client';

/** "To jo@example.com: “Your order is delayed”" for a delivery, from the summary the API gives. */
export function DeliverySummaryText({ delivery }: { delivery: Delivery }) {
  const s = delivery.summary;
  if (!s) return <span className="muted">—</span>;
  return (
    <span className="delivery-summary">
      {s.to && (
        <>
          To <strong>{s.to}</strong>
        </>
      )}
      {s.subject && (
        <>
          {s.to ? ': ' : ''}“{s.subject}”
        </>
      )}
      {s.error && <span className="error-text block">{s.error}</span>}
    </span>
  );
}
