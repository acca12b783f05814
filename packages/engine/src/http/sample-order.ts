import type { Order } from '@orderflow/core';
import type { TemplateRenderer } from '../actions/template.js';
import { templateVars } from '../actions/template.js';
import { ApiError } from '../errors.js';

const SAMPLE_DATA = {
  customer: { name: 'Ada Lovelace', email: 'ada@example.com' },
  items: [{ sku: 'SKU-101', name: 'Desk lamp', qty: 1 }],
  total: 49.9,
  currency: 'EUR',
  deliveryEstimate: '2026-01-08',
  feedbackUrl: 'https://shop.example.com/feedback/SAMPLE-1001',
  loyaltyPoints: 50,
};

/** An order for previews: a plausible sample, overlaid with what the caller gave. */
export function sampleOrder(now: string, overlay: Partial<Order> = {}, data?: Record<string, unknown>): Order {
  return {
    id: 'ord_SAMPLE',
    workflow: 'orders',
    workflowVersion: 1,
    kind: 'order',
    externalRef: 'SAMPLE-1001',
    state: 'delayed',
    group: 'processing',
    facts: {},
    cancellation: null,
    links: [],
    version: 1,
    visit: 1,
    createdAt: now,
    updatedAt: now,
    stateEnteredAt: now,
    ...overlay,
    data: { ...SAMPLE_DATA, ...(overlay.data ?? {}), ...(data ?? {}) },
  };
}

/** Checks that a template parses and renders against sample data; throws `validation_failed`. */
export function validateTemplateSource(renderer: TemplateRenderer, t: { subject: string; html: string; text?: string | null }): void {
  const now = new Date().toISOString();
  const vars = templateVars({
    id: 'evt_sample',
    type: 'order.state_changed',
    createdAt: now,
    data: { order: sampleOrder(now), from: 'shipping', to: 'delayed' },
  });
  const errors: { path: string; message: string }[] = [];
  if (/[\r\n\0]/.test(t.subject)) errors.push({ path: 'body.subject', message: 'must be a single line (no CR, LF or NUL)' });
  const parts: [string, string, boolean][] = [
    ['subject', t.subject, false],
    ['html', t.html, true],
  ];
  if (typeof t.text === 'string') parts.push(['text', t.text, false]);
  for (const [path, source, html] of parts) {
    try {
      renderer.render(source, vars, { escape: html });
    } catch (err) {
      errors.push({ path: `body.${path}`, message: err instanceof Error ? err.message : String(err) });
    }
  }
  if (errors.length > 0)
    throw new ApiError('validation_failed', `The template is not valid: ${errors[0]?.path} ${errors[0]?.message}`, { errors });
}
