import type { Definition, State } from './definition.js';

const st = (key: string, name: string, group: State['group'], color: string, extra: Partial<State> = {}): State => ({
  key,
  name,
  group,
  color,
  ...extra,
});

/** The demo workflow `orders` (SPEC §8). */
export const DEMO_ORDERS: Definition = {
  key: 'orders',
  name: 'Orders',
  description: 'Web shop orders: payment, packing, shipping and delivery.',
  kinds: ['order'],
  states: [
    st('order_created', 'Order created', 'new', '#64748b', { initial: true, publicName: 'Order received' }),
    st('awaiting_payment', 'Awaiting payment', 'processing', '#f59e0b', {
      timeout: { after: '48h', to: 'payment_timeout' },
      description: 'Cancelled automatically when no payment arrives within 48 hours.',
    }),
    st('packing', 'Packing', 'processing', '#3b82f6'),
    st('shipping', 'Shipping', 'processing', '#6366f1', { publicName: 'On its way' }),
    st('delayed', 'Delayed', 'processing', '#f97316', { publicName: 'Delayed in transit' }),
    st('lost_in_transit', 'Lost in transit', 'processing', '#ef4444'),
    st('damaged', 'Damaged', 'processing', '#dc2626'),
    st('payment_timeout', 'Payment timeout', 'cancelled', '#9ca3af', { cancellation: { initiator: 'customer', code: 'payment_timeout' } }),
    st('customer_cancelled', 'Customer cancelled', 'cancelled', '#9ca3af', {
      cancellation: { initiator: 'customer', code: 'customer_request' },
    }),
    st('partial_refund', 'Partial refund', 'cancelled', '#a855f7', { cancellation: { initiator: 'customer', code: 'refund_partial' } }),
    st('full_refund', 'Full refund', 'cancelled', '#a855f7', { cancellation: { initiator: 'customer', code: 'refund_full' } }),
    st('out_of_stock', 'Out of stock', 'cancelled', '#78716c', { cancellation: { initiator: 'provider', code: 'out_of_stock' } }),
    st('delivery_failed', 'Delivery failed', 'cancelled', '#78716c', { cancellation: { initiator: 'provider', code: 'delivery_failed' } }),
    st('delivered', 'Delivered', 'completed', '#16a34a', { requires: ['delivered'] }),
  ],
  transitions: [
    { from: 'order_created', to: 'awaiting_payment', name: 'Request payment' },
    { from: 'awaiting_payment', to: 'packing', name: 'Payment received' },
    { from: 'awaiting_payment', to: 'payment_timeout', name: 'Payment timed out' },
    { from: 'packing', to: 'shipping', name: 'Ship' },
    { from: 'packing', to: 'out_of_stock', name: 'Out of stock' },
    { from: 'shipping', to: 'delayed', name: 'Report delay' },
    { from: 'shipping', to: 'lost_in_transit', name: 'Report lost' },
    { from: 'shipping', to: 'damaged', name: 'Report damage' },
    { from: 'shipping', to: 'delivered', name: 'Deliver' },
    { from: 'shipping', to: 'delivery_failed', name: 'Delivery failed' },
    { from: 'delayed', to: 'shipping', name: 'Back on track' },
    { from: 'delayed', to: 'delivered', name: 'Deliver' },
    { from: 'delayed', to: 'lost_in_transit', name: 'Report lost' },
    { from: 'delayed', to: 'delivery_failed', name: 'Delivery failed' },
    { from: 'lost_in_transit', to: 'shipping', name: 'Found' },
    { from: 'lost_in_transit', to: 'delivery_failed', name: 'Give up' },
    { from: 'lost_in_transit', to: 'full_refund', name: 'Refund in full', roles: ['admin'] },
    { from: 'damaged', to: 'packing', name: 'Send again' },
    { from: 'damaged', to: 'partial_refund', name: 'Refund partly' },
    {
      from: 'damaged',
      to: 'full_refund',
      name: 'Refund in full (orders up to 500)',
      guard: { path: 'order.data.total', op: 'lte', value: 500 },
    },
    { from: 'group:new', to: 'customer_cancelled', name: 'Cancel' },
    { from: 'awaiting_payment', to: 'customer_cancelled', name: 'Cancel' },
    { from: 'packing', to: 'customer_cancelled', name: 'Cancel' },
  ],
  rules: [
    {
      id: 'order-confirmation',
      name: 'Confirm new orders',
      trigger: 'order_created',
      actions: [{ type: 'send_email', template: 'order_confirmation', to: 'customer' }],
    },
    {
      id: 'delay-apology',
      name: 'Apologise for delays',
      trigger: 'state_changed',
      conditions: { new_state: 'delayed' },
      actions: [
        { type: 'send_email', template: 'delay_notification', to: 'customer' },
        { type: 'webhook', url: 'https://api.example.com/notify' },
      ],
    },
    {
      id: 'package-lost-event',
      name: 'Carrier reports a lost package',
      trigger: 'event_received',
      event: 'package.lost',
      conditions: { path: 'order.state', op: 'in', value: ['shipping', 'delayed'] },
      actions: [{ type: 'transition', to: 'lost_in_transit', note: 'Carrier reported the package lost.' }],
    },
    {
      id: 'package-lost',
      name: 'Replace lost packages',
      trigger: 'state_changed',
      conditions: { new_state: 'lost_in_transit' },
      actions: [
        {
          type: 'notify',
          channel: 'admins',
          severity: 'critical',
          message: 'Package for order {{ order.id }} was lost; a replacement order was created.',
        },
        {
          type: 'create_order',
          workflow: 'orders',
          link: 'replacement',
          data: {
            customer: '{{ order.data.customer }}',
            items: '{{ order.data.items }}',
            total: 0,
            currency: '{{ order.data.currency }}',
            deliveryEstimate: '{{ order.data.deliveryEstimate }}',
            note: 'Replacement for {{ order.id }}',
          },
        },
      ],
    },
    {
      id: 'order-completed',
      name: 'Thank customers after delivery',
      trigger: 'state_changed',
      conditions: { new_group: 'completed' },
      actions: [
        { type: 'send_email', template: 'feedback_request', to: 'customer' },
        { type: 'send_email', template: 'loyalty_points', to: 'customer' },
      ],
    },
    {
      id: 'payment-received',
      name: 'Start packing when paid',
      trigger: 'event_received',
      event: 'payment.received',
      conditions: { path: 'order.state', op: 'eq', value: 'awaiting_payment' },
      actions: [{ type: 'transition', to: 'packing', note: 'Payment received.' }],
    },
    {
      id: 'cancellation-notice',
      name: 'Tell customers about cancellations',
      trigger: 'state_changed',
      conditions: { new_group: 'cancelled' },
      actions: [{ type: 'send_email', template: 'cancellation_notice', to: 'customer' }],
    },
  ],
  layout: {},
};

/** The demo workflow `subscriptions`. */
export const DEMO_SUBSCRIPTIONS: Definition = {
  key: 'subscriptions',
  name: 'Subscriptions',
  description: 'Recurring subscriptions: trial, activation, renewal.',
  kinds: ['subscription'],
  states: [
    st('subscription_requested', 'Subscription requested', 'new', '#64748b', { initial: true }),
    st('trial', 'Trial', 'processing', '#0ea5e9', { timeout: { after: '14d', to: 'trial_expired' } }),
    st('active', 'Active', 'processing', '#22c55e'),
    st('payment_failed', 'Payment failed', 'processing', '#f97316', { timeout: { after: '7d', to: 'subscription_lapsed' } }),
    st('trial_expired', 'Trial expired', 'cancelled', '#9ca3af', { cancellation: { initiator: 'customer', code: 'payment_timeout' } }),
    st('subscription_lapsed', 'Lapsed', 'cancelled', '#9ca3af', { cancellation: { initiator: 'customer', code: 'payment_timeout' } }),
    st('subscription_cancelled', 'Cancelled by customer', 'cancelled', '#9ca3af', {
      cancellation: { initiator: 'customer', code: 'customer_request' },
    }),
    st('subscription_renewed', 'Renewed', 'completed', '#16a34a', { requires: ['customer_confirmed'] }),
  ],
  transitions: [
    { from: 'subscription_requested', to: 'trial' },
    { from: 'subscription_requested', to: 'active' },
    { from: 'trial', to: 'active' },
    { from: 'trial', to: 'trial_expired' },
    { from: 'active', to: 'payment_failed' },
    { from: 'payment_failed', to: 'active' },
    { from: 'payment_failed', to: 'subscription_lapsed' },
    { from: 'active', to: 'subscription_renewed' },
    { from: '*', to: 'subscription_cancelled' },
  ],
  rules: [
    {
      id: 'renewal-thanks',
      trigger: 'state_changed',
      conditions: { new_state: 'subscription_renewed' },
      actions: [{ type: 'send_email', template: 'loyalty_points', to: 'customer' }],
    },
  ],
};

/** The demo workflow `reservations`. */
export const DEMO_RESERVATIONS: Definition = {
  key: 'reservations',
  name: 'Reservations',
  description: 'Table, room or rental reservations.',
  kinds: ['reservation'],
  reasons: { customer: ['no_show'] },
  states: [
    st('reservation_placed', 'Reservation placed', 'new', '#64748b', { initial: true }),
    st('reservation_confirmed', 'Confirmed', 'processing', '#3b82f6'),
    st('checked_in', 'Checked in', 'processing', '#6366f1'),
    st('reservation_cancelled', 'Cancelled', 'cancelled', '#9ca3af', { cancellation: { initiator: 'customer', code: 'customer_request' } }),
    st('no_show', 'No-show', 'cancelled', '#9ca3af', { cancellation: { initiator: 'customer', code: 'no_show' } }),
    st('reservation_fulfilled', 'Fulfilled', 'completed', '#16a34a', { requires: ['service_provided'] }),
  ],
  transitions: [
    { from: 'reservation_placed', to: 'reservation_confirmed' },
    { from: 'reservation_confirmed', to: 'checked_in' },
    { from: 'reservation_confirmed', to: 'no_show' },
    { from: 'checked_in', to: 'reservation_fulfilled' },
    { from: '*', to: 'reservation_cancelled' },
  ],
  rules: [
    {
      id: 'reservation-confirmation',
      trigger: 'state_changed',
      conditions: { new_state: 'reservation_confirmed' },
      actions: [{ type: 'send_email', template: 'order_confirmation', to: 'customer' }],
    },
  ],
};

/** The demo workflow `service-requests`. */
export const DEMO_SERVICE_REQUESTS: Definition = {
  key: 'service-requests',
  name: 'Service requests',
  description: 'Repairs, installations and projects.',
  kinds: ['service_request'],
  criteria: ['installation_done'],
  states: [
    st('service_requested', 'Service requested', 'new', '#64748b', { initial: true }),
    st('scheduled', 'Scheduled', 'processing', '#3b82f6'),
    st('in_progress', 'In progress', 'processing', '#6366f1'),
    st('awaiting_parts', 'Awaiting parts', 'processing', '#f59e0b'),
    st('request_withdrawn', 'Withdrawn', 'cancelled', '#9ca3af', { cancellation: { initiator: 'customer', code: 'customer_request' } }),
    st('cannot_service', 'Cannot be serviced', 'cancelled', '#78716c', {
      cancellation: { initiator: 'provider', code: 'operational_issue' },
    }),
    st('service_provided', 'Service provided', 'completed', '#16a34a', { requires: ['service_provided'] }),
    st('project_completed', 'Project completed', 'completed', '#15803d', {
      requires: ['installation_done', 'customer_confirmed'],
    }),
  ],
  transitions: [
    { from: 'service_requested', to: 'scheduled' },
    { from: 'scheduled', to: 'in_progress' },
    { from: 'in_progress', to: 'awaiting_parts' },
    { from: 'awaiting_parts', to: 'in_progress' },
    { from: 'in_progress', to: 'service_provided' },
    { from: 'in_progress', to: 'project_completed' },
    { from: 'group:processing', to: 'cannot_service' },
    { from: '*', to: 'request_withdrawn' },
  ],
  rules: [
    {
      id: 'service-feedback',
      trigger: 'state_changed',
      conditions: { new_group: 'completed' },
      actions: [{ type: 'send_email', template: 'feedback_request', to: 'customer' }],
    },
  ],
};

/** Every demo workflow, seeded on first start. */
export const DEMO_WORKFLOWS: readonly Definition[] = [DEMO_ORDERS, DEMO_SUBSCRIPTIONS, DEMO_RESERVATIONS, DEMO_SERVICE_REQUESTS];

/** An email template (SPEC §3). */
export interface EmailTemplate {
  key: string;
  subject: string;
  html: string;
  text?: string;
  description?: string;
}

/** The built-in templates of the demo (SPEC §3). */
export const DEMO_TEMPLATES: readonly EmailTemplate[] = [
  {
    key: 'order_confirmation',
    description: 'Sent when an order is created.',
    subject: 'We received your order {{ order.externalRef | default: order.id }}',
    html: '<p>Hello {{ order.data.customer.name | default: "there" }},</p><p>Thank you for your order. We will let you know as soon as it ships.</p>{% if order.data.items %}<ul>{% for item in order.data.items %}<li>{{ item.qty | default: 1 }} × {{ item.name | default: item.sku }}</li>{% endfor %}</ul>{% endif %}{% if order.data.total %}<p>Total: {{ order.data.total }} {{ order.data.currency }}</p>{% endif %}',
    text: 'Hello {{ order.data.customer.name | default: "there" }},\n\nThank you for your order. We will let you know as soon as it ships.\n{% if order.data.total %}Total: {{ order.data.total }} {{ order.data.currency }}\n{% endif %}',
  },
  {
    key: 'delay_notification',
    description: 'Apology for a delayed delivery, with the updated estimate.',
    subject: 'Your order {{ order.externalRef | default: order.id }} is delayed',
    html: '<p>Hello {{ order.data.customer.name | default: "there" }},</p><p>We are sorry: your order is taking longer than planned.</p>{% if order.data.deliveryEstimate %}<p>The new delivery estimate is <strong>{{ order.data.deliveryEstimate }}</strong>.</p>{% else %}<p>We will send you a new delivery estimate shortly.</p>{% endif %}<p>Thank you for your patience.</p>',
    text: 'Hello {{ order.data.customer.name | default: "there" }},\n\nWe are sorry: your order is taking longer than planned.\n{% if order.data.deliveryEstimate %}The new delivery estimate is {{ order.data.deliveryEstimate }}.{% else %}We will send you a new delivery estimate shortly.{% endif %}\n\nThank you for your patience.',
  },
  {
    key: 'feedback_request',
    description: 'Asks for feedback once the order is completed.',
    subject: 'How did we do?',
    html: '<p>Hello {{ order.data.customer.name | default: "there" }},</p><p>Your order has arrived. We would love to hear what you think.</p>{% if order.data.feedbackUrl %}<p><a href="{{ order.data.feedbackUrl }}">Leave feedback</a></p>{% endif %}',
    text: 'Hello {{ order.data.customer.name | default: "there" }},\n\nYour order has arrived. We would love to hear what you think.\n{% if order.data.feedbackUrl %}Leave feedback: {{ order.data.feedbackUrl }}{% endif %}',
  },
  {
    key: 'loyalty_points',
    description: 'Tells the customer how many loyalty points the order earned.',
    subject: 'You earned {{ order.data.loyaltyPoints | default: order.data.total | default: 0 | floor }} points',
    html: '<p>Hello {{ order.data.customer.name | default: "there" }},</p><p>This order earned you <strong>{{ order.data.loyaltyPoints | default: order.data.total | default: 0 | floor }} loyalty points</strong>.</p>',
    text: 'Hello {{ order.data.customer.name | default: "there" }},\n\nThis order earned you {{ order.data.loyaltyPoints | default: order.data.total | default: 0 | floor }} loyalty points.',
  },
  {
    key: 'cancellation_notice',
    description: 'Tells the customer the order was cancelled, and why.',
    subject: 'Your order {{ order.externalRef | default: order.id }} was cancelled',
    html: '<p>Hello {{ order.data.customer.name | default: "there" }},</p><p>Your order was cancelled ({{ order.cancellation.code | replace: "_", " " }}).</p>{% if order.cancellation.refund %}<p>We refund {{ order.cancellation.refund.amount }} {{ order.cancellation.refund.currency }}.</p>{% endif %}',
    text: 'Hello {{ order.data.customer.name | default: "there" }},\n\nYour order was cancelled ({{ order.cancellation.code | replace: "_", " " }}).\n{% if order.cancellation.refund %}We refund {{ order.cancellation.refund.amount }} {{ order.cancellation.refund.currency }}.{% endif %}',
  },
];
