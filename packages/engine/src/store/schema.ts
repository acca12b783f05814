import type { Generated } from 'kysely';

/** Row types of every table. JSON is stored as text, timestamps as ISO 8601 UTC text, booleans as 0/1. */
export interface DB {
  workflows: {
    key: string;
    name: string;
    draft_json: string | null;
    draft_updated_at: string | null;
    published_version: number | null;
    created_at: string;
    updated_at: string;
  };
  workflow_versions: {
    workflow: string;
    version: number;
    definition_json: string;
    published_at: string;
    published_by: string;
  };
  orders: {
    id: string;
    workflow: string;
    workflow_version: number;
    kind: string;
    external_ref: string | null;
    state: string;
    grp: string;
    data_json: string;
    facts_json: string;
    cancellation_json: string | null;
    links_json: string;
    version: number;
    visit: number;
    created_at: string;
    updated_at: string;
    state_entered_at: string;
    /** seq of the order's last history entry; `appendHistory` continues from it. */
    history_seq: Generated<number>;
    /** Per state, the times rules moved the order there within the last hour (JSON). */
    rule_entries_json: string | null;
    /**
     * No pending visit-bound timer of the order belongs to a later visit than this one (0: none
     * was ever scheduled); `null`: not known. Leaving a visit after it needs no timer update.
     */
    timers_visit: number | null;
  };
  history: {
    order_id: string;
    seq: number;
    id: string;
    at: string;
    type: string;
    to_state: string | null;
    rule_id: string | null;
    actor_type: string;
    entry_json: string;
    /** The rule runs the change that wrote this row made for its order (see `rule_run_sets`); null when none. */
    runs_key: string | null;
    runs_first: string | null;
    runs_workflow: string | null;
    runs_rule_ids: string | null;
    runs_count: number | null;
    runs_matched: number | null;
    runs_json: string | null;
  };
  deliveries: {
    id: string;
    order_id: string;
    workflow: string;
    type: string;
    rule_id: string | null;
    action_json: string;
    envelope_json: string;
    status: string;
    attempts: number;
    next_attempt_at: string;
    lease_until: string | null;
    lease_token: string | null;
    last_error: string | null;
    created_at: string;
    updated_at: string;
    delivered_at: string | null;
    /**
     * Where the delivery goes (`destinationOf` its action), so a claim can hold back the rows of a
     * destination the worker holds enough of; `null` on rows queued before it was recorded.
     */
    destination: string | null;
  };
  delivery_attempts: {
    id: string;
    delivery_id: string;
    attempt: number;
    at: string;
    duration_ms: number;
    outcome: string;
    status_code: number | null;
    response_body: string | null;
    error: string | null;
  };
  timers: {
    id: string;
    order_id: string;
    kind: string;
    due_at: string;
    state: string;
    visit: number;
    scope: string;
    rule_id: string | null;
    action_index: number | null;
    payload_json: string | null;
    status: string;
    lease_until: string | null;
    lease_token: string | null;
    created_at: string;
    fired_at: string | null;
  };
  idempotency_keys: {
    scope: string;
    key: string;
    request_hash: string;
    response_status: number;
    response_json: string;
    created_at: string;
  };
  tokens: {
    id: string;
    hash: string;
    role: string;
    name: string | null;
    created_at: string;
    revoked_at: string | null;
    last_used_at: string | null;
    expires_at: string | null;
  };
  templates: {
    key: string;
    subject: string;
    html: string;
    text: string | null;
    description: string | null;
    updated_at: string;
  };
  endpoints: {
    key: string;
    url: string;
    secret: string;
    headers_json: string;
    enabled: number;
    consecutive_failures: number;
    disabled_reason: string | null;
    created_at: string;
    updated_at: string;
  };
  notifications: {
    id: string;
    channel: string;
    severity: string;
    message: string;
    order_id: string | null;
    delivery_id: string | null;
    created_at: string;
    read_at: string | null;
    /** Set on alerts that fold: one open (unread) notification per key, counting repeats. */
    fold_key: string | null;
    count: number;
    last_at: string | null;
  };
  mailbox: {
    id: string;
    delivery_id: string | null;
    to_json: string;
    cc_json: string;
    subject: string;
    html: string;
    text: string | null;
    message_id: string;
    created_at: string;
  };
  rule_runs: {
    id: string;
    order_id: string;
    workflow: string;
    rule_id: string;
    trigger: string;
    at: string;
    matched: number;
    run_json: string;
  };
  /** The rule runs of one change for one order, in one row (see store/rule-runs.ts). */
  rule_run_sets: {
    last_id: string;
    first_id: string;
    order_id: string;
    workflow: string;
    at: string;
    rule_ids: string;
    runs: number;
    matched: number;
    runs_json: string;
  };
  settings: {
    key: string;
    value_json: string;
  };
  schema_migrations: {
    id: string;
    applied_at: string;
  };
}

/** Sequence-less tables need no Generated columns; kept for future auto ids. */
export type _Unused = Generated<number>;
