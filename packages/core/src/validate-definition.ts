/**
 * Validation of a workflow definition document (SPEC §1.2a, §5.1).
 *
 * `validateDefinition` never throws. It first checks the document against
 * `DefinitionSchema`; when that fails it reports the schema problems only.
 * Otherwise it runs the semantic checks and the graph analysis below. Every
 * problem carries a stable `code` (its severity is fixed per code) and a dotted
 * `path` (`states.3.key`, `transitions.5`, `rules.0.actions.1.to`) that the
 * visual builder uses to highlight the node, edge or field.
 *
 * | code | severity | reported when | path |
 * |---|---|---|---|
 * | `schema` | error | the document does not match the schema (one per schema issue), or cannot be read at all (nested too deeply, circular) | the issue's path |
 * | `duplicate_state` | error | a state key is used a second time | `states.i.key` of the repeat |
 * | `initial_state_count` | error | no state, or more than one, has `initial: true` | `states` (none) or `states.i.initial` of each extra one |
 * | `initial_not_in_new` | error | the initial state is not in group `new` | `states.i.group` |
 * | `empty_group` | error | group `new`, `cancelled` or `completed` has no state (`processing` may be empty) | `states` |
 * | `unknown_state` | error | a transition's `from`/`to`, a timeout's `to`, a rule's `state`, a `new_state`/`old_state` shorthand value (rule conditions and transition guards) or a `transition` action's `to` names no state | the field, e.g. `transitions.5.to`, `rules.0.conditions.new_state.1` |
 * | `unknown_group` | error | a `new_group`/`old_group` shorthand value is not one of the four groups | the value, e.g. `rules.0.conditions.new_group` |
 * | `terminal_outgoing` | error | something would move an order out of a cancelled/completed state: a transition from such a state or from `group:cancelled`/`group:completed`; a timeout on such a state; a `transition` action of a rule that only fires in such states | `transitions.i`, `states.i.timeout`, `rules.i.actions.j` |
 * | `timeout_to_self` | error | a state's timeout leads back to the same state | `states.i.timeout.to` |
 * | `cancellation_outside_cancelled` | error | a `cancellation` default on a state outside group `cancelled` | `states.i.cancellation` |
 * | `requires_outside_completed` | error | a non-empty `requires` on a state outside group `completed` | `states.i.requires` |
 * | `unknown_criterion` | error | a criterion that is neither built in nor in `criteria`: in `requires`, a `fact_recorded` rule's `fact`, a `record_fact` action | `states.i.requires.k`, `rules.i.fact`, `rules.i.actions.j.fact` |
 * | `unknown_reason` | error | a reason code unknown for its initiator (built-in plus `reasons`): cancellation default, timeout reason, `transition` action reason | `….reason.code` / `states.i.cancellation.code` |
 * | `reason_missing` | error | a timeout or `transition` action enters a cancelled state without a reason while that state has no `cancellation` default, so it is always refused (`reason_required`) | `states.i.timeout`, `rules.i.actions.j` |
 * | `unknown_template` | error | a `send_email` template is not in `options.templates` (only checked when given) | `rules.i.actions.j.template` |
 * | `unknown_endpoint` | error | a `webhook` endpoint is not in `options.endpoints` (only checked when given) | `rules.i.actions.j.endpoint` |
 * | `unknown_workflow` | error | a `create_order` workflow is neither this workflow nor in `options.workflows` (only checked when given) | `rules.i.actions.j.workflow` |
 * | `webhook_target` | error | a `webhook` action has neither or both of `url` and `endpoint` | `rules.i.actions.j` |
 * | `webhook_url` | error | a `webhook` action's `url` carries credentials (`user:pass@`) or its scheme is not http/https | `rules.i.actions.j.url` |
 * | `webhook_credential_header` | error | an inline `webhook` header's name looks like a credential (`authorization`, `cookie`, or containing `token`, `secret`, `key`, `password`): answers would show it, so it belongs on a named endpoint | `rules.i.actions.j.headers.<name>` |
 * | `webhook_header_name` | error | an inline `webhook` header's name cannot be sent: it is not an HTTP token of 1 to 100 characters (spaces, CR/LF, non-ASCII, `:`…) | `rules.i.actions.j.headers.<name>` |
 * | `email_recipient` | error | a `send_email` `to` or `cc` without Liquid has an entry that is neither `customer`, `admin` nor an email address, or a `to` without any entry, or more than 50 distinct addresses | `rules.i.actions.j.to`, `….cc` |
 * | `template_syntax` | error | a rule value that is rendered with Liquid does not parse (only checked when `options.checkTemplate` is given): `set_data` values, `webhook` header values and body leaves, `notify` messages, `create_order` data, `send_email` `to`/`cc` expressions | the value, e.g. `rules.i.actions.j.set.q`, `….body.items.0.sku`, `….headers.<name>`, `….message` |
 * | `condition_value` | error | a comparison (rule condition or transition guard) other than `exists` has no `value`, or an `in`/`nin` comparison's value is not a list: it would always or never hold | `….value` of the comparison, e.g. `rules.i.conditions.all.1.value` |
 * | `trigger_field_missing` | error | `event_received` without `event`; `time_in_state` without `state` or `after`; `fact_recorded` without `fact` | `rules.i.<field>` |
 * | `duplicate_rule_id` | error | two rules share an id (explicit, or generated `rule-<n>` for rules without one) | `rules.i.id`, or `rules.i` for a generated id |
 * | `trigger_field_unexpected` | warning | `event`, `state`, `after` or `fact` given on a rule whose trigger ignores it | `rules.i.<field>` |
 * | `rule_no_actions` | warning | a rule has an empty `actions` list | `rules.i.actions` |
 * | `rule_transition_no_edge` | warning | a `transition` action's `to` has no transition edge from any state the rule can fire in (automated transitions need an edge; timeouts do not) | `rules.i.actions.j.to` |
 * | `layout_unknown_state` | warning | a `layout` entry names no state | `layout.<key>` |
 * | `timeout_backwards` | warning | a timeout leads into group `new` | `states.i.timeout.to` |
 * | `unreachable_state` | warning | no order can ever enter the state: it cannot be reached from a `new` state (where orders are created) through transitions, timeouts and enabled rules' `transition` actions | `states.i` |
 * | `no_path_to_terminal` | warning | from a non-terminal state, no cancelled/completed state can be reached | `states.i` |
 * | `automated_cycle` | warning | automation alone can loop: state timeouts, and actions of enabled rules that trigger rules again (`transition` → `state_changed`/`time_in_state`, `create_order` into this workflow → `order_created`, `record_fact` → `fact_recorded`, a `webhook` to this server's `/orders/:id/events` → `event_received`) form a cycle. Reported once per strongly connected set, with one cycle spelled out | the first rule action (else timeout) on the cycle |
 *
 * @module
 */
import {
  type Condition,
  type Definition,
  DefinitionSchema,
  fromMatches,
  GROUPS,
  isTerminalGroup,
  type Rule,
  ruleIdOf,
  type State,
  type Trigger,
  workflowCriteria,
  workflowReasons,
} from './definition.js';

/** Severity of every problem code; see the table at the top of this module. */
export const PROBLEM_CODES = {
  schema: 'error',
  duplicate_state: 'error',
  initial_state_count: 'error',
  initial_not_in_new: 'error',
  empty_group: 'error',
  unknown_state: 'error',
  unknown_group: 'error',
  terminal_outgoing: 'error',
  timeout_to_self: 'error',
  cancellation_outside_cancelled: 'error',
  requires_outside_completed: 'error',
  unknown_criterion: 'error',
  unknown_reason: 'error',
  reason_missing: 'error',
  unknown_template: 'error',
  unknown_endpoint: 'error',
  unknown_workflow: 'error',
  webhook_target: 'error',
  webhook_url: 'error',
  webhook_credential_header: 'error',
  webhook_header_name: 'error',
  email_recipient: 'error',
  template_syntax: 'error',
  condition_value: 'error',
  trigger_field_missing: 'error',
  duplicate_rule_id: 'error',
  trigger_field_unexpected: 'warning',
  rule_no_actions: 'warning',
  rule_transition_no_edge: 'warning',
  layout_unknown_state: 'warning',
  timeout_backwards: 'warning',
  unreachable_state: 'warning',
  no_path_to_terminal: 'warning',
  automated_cycle: 'warning',
} as const satisfies Record<string, Problem['severity']>;

/** A stable problem code. */
export type ProblemCode = keyof typeof PROBLEM_CODES;

/** One validation finding (SPEC §5.1). */
export interface Problem {
  /** `error` blocks publishing; `warning` does not. */
  severity: 'error' | 'warning';
  /** Stable snake_case code, see {@link PROBLEM_CODES}. */
  code: string;
  /** Dotted path into the document, e.g. `transitions.5.to`; empty for the document itself. */
  path: string;
  /** Human-readable explanation naming the states, rules or values involved. */
  message: string;
}

/** Context the definition is validated against; a list that is not given is not checked. */
export interface ValidateOptions {
  /** Known email template keys (`send_email.template`). */
  templates?: readonly string[];
  /** Known named webhook endpoints (`webhook.endpoint`). */
  endpoints?: readonly string[];
  /** Known workflow keys besides this one (`create_order.workflow`). */
  workflows?: readonly string[];
  /**
   * Parses a Liquid template without rendering it and answers why it does not parse, or
   * undefined when it does. Given, every rule value that the runtime renders with Liquid is
   * checked (`template_syntax`); the engine passes its own parser, core has none.
   */
  checkTemplate?: (source: string) => string | undefined;
}

/** Outcome of {@link validateDefinition}. */
export interface ValidationResult {
  /** True when no problem is an error (warnings allowed). */
  ok: boolean;
  /** The schema-parsed definition, present whenever the schema passes (even with semantic errors). */
  definition?: Definition;
  /** Every problem found, errors and warnings, in document order (graph warnings last). */
  problems: Problem[];
}

/** True when at least one problem is an error. */
export function hasErrors(problems: readonly Problem[]): boolean {
  return problems.some((p) => p.severity === 'error');
}

/**
 * Validates a workflow definition document. Never throws, whatever `input` is.
 * Schema problems are reported alone; once the schema passes, the semantic
 * checks and graph analysis run and `definition` holds the parsed document.
 */
export function validateDefinition(input: unknown, options?: ValidateOptions): ValidationResult {
  try {
    const parsed = DefinitionSchema.safeParse(input);
    if (!parsed.success) {
      return {
        ok: false,
        problems: parsed.error.issues.map((issue) => ({
          severity: 'error',
          code: 'schema',
          path: issue.path.map((part) => String(part)).join('.'),
          message: issue.message,
        })),
      };
    }
    const problems = checkDefinition(parsed.data, readOptions(options));
    return { ok: !hasErrors(problems), definition: parsed.data, problems };
  } catch {
    // Stack exhaustion on absurdly deep or circular input, or a hostile getter/proxy.
    return {
      ok: false,
      problems: [
        {
          severity: 'error',
          code: 'schema',
          path: '',
          message: 'The definition cannot be read: it is nested too deeply, circular, or not plain JSON.',
        },
      ],
    };
  }
}

interface Lists {
  templates?: readonly string[];
  endpoints?: readonly string[];
  workflows?: readonly string[];
  checkTemplate?: (source: string) => string | undefined;
}

function readOptions(options: unknown): Lists {
  const lists: Lists = {};
  if (options === null || typeof options !== 'object') return lists;
  const o = options as Record<string, unknown>;
  const list = (v: unknown): readonly string[] | undefined => (Array.isArray(v) ? v.filter((x) => typeof x === 'string') : undefined);
  const templates = list(o.templates);
  const endpoints = list(o.endpoints);
  const workflows = list(o.workflows);
  if (templates) lists.templates = templates;
  if (endpoints) lists.endpoints = endpoints;
  if (workflows) lists.workflows = workflows;
  if (typeof o.checkTemplate === 'function') lists.checkTemplate = o.checkTemplate as (source: string) => string | undefined;
  return lists;
}

const quote = (s: string): string => JSON.stringify(s);
const quoteList = (xs: readonly string[]): string => (xs.length === 0 ? '(none)' : xs.map(quote).join(', '));

/** Trigger-specific rule fields, by trigger. */
const TRIGGER_FIELDS: Record<Trigger, readonly ('event' | 'state' | 'after' | 'fact')[]> = {
  state_changed: [],
  order_created: [],
  event_received: ['event'],
  time_in_state: ['state', 'after'],
  fact_recorded: ['fact'],
};
const ALL_TRIGGER_FIELDS = ['event', 'state', 'after', 'fact'] as const;

/** One move out of a state, with where it is declared (`transitions.2`, `states.1.timeout`, `rules.0.actions.1`). */
interface Edge {
  to: string;
  origin: string;
}

/** A directed graph of named nodes; the first declaration of a pair wins. */
class NodeGraph {
  private readonly out = new Map<string, Edge[]>();
  private readonly pairs = new Set<string>();
  readonly nodes: string[] = [];
  node(key: string): void {
    if (this.out.has(key)) return;
    this.out.set(key, []);
    this.nodes.push(key);
  }
  add(from: string, to: string, origin: string): void {
    const pair = `${from} ${to}`;
    if (!this.out.has(from) || !this.out.has(to) || this.pairs.has(pair)) return;
    this.pairs.add(pair);
    this.out.get(from)?.push({ to, origin });
  }
  from(key: string): readonly Edge[] {
    return this.out.get(key) ?? [];
  }
}

/**
 * Moves between existing states; the first declaration of a pair wins. Moves
 * out of terminal states are left out: the engine never makes them.
 */
class Graph {
  private readonly out = new Map<string, Edge[]>();
  private readonly pairs = new Set<string>();
  constructor(states: readonly State[]) {
    for (const s of states) this.out.set(s.key, []);
  }
  add(from: State, to: string, origin: string): void {
    const pair = `${from.key} ${to}`;
    if (isTerminalGroup(from.group) || !this.out.has(to) || this.pairs.has(pair)) return;
    this.pairs.add(pair);
    this.out.get(from.key)?.push({ to, origin });
  }
  has(from: string, to: string): boolean {
    return this.pairs.has(`${from} ${to}`);
  }
  from(key: string): readonly Edge[] {
    return this.out.get(key) ?? [];
  }
}

function checkDefinition(d: Definition, lists: Lists): Problem[] {
  const problems: Problem[] = [];
  const report = (code: ProblemCode, path: string, message: string): void => {
    problems.push({ severity: PROBLEM_CODES[code], code, path, message });
  };
  /** Reports `source` when the engine's Liquid parser refuses it; `what` names the value in the message. */
  const checkTemplate = (source: string, path: string, what: string): void => {
    if (!lists.checkTemplate) return;
    let reason: string | undefined;
    try {
      reason = lists.checkTemplate(source);
    } catch (e) {
      reason = e instanceof Error ? e.message : String(e);
    }
    if (reason === undefined) return;
    report(
      'template_syntax',
      path,
      `The Liquid template in ${what} does not parse: ${clip(reason, 300)}. The action would fail every time the rule runs; close every {{ … }} and {% … %}, use only known tags and filters, and put text meant literally inside {% raw %}…{% endraw %}.`,
    );
  };
  /** Checks the string leaves of a value that the runtime renders like `set_data` values (decide's renderValue). */
  const checkRenderedValue = (value: unknown, path: string, what: string): void => {
    walkStrings(value, path, (leaf, at) => {
      if (!COPIED_PATH.test(leaf) && hasLiquid(leaf)) checkTemplate(leaf, at, what);
    });
  };
  /** Checks a `send_email` `to` or `cc` the way the sender resolves it. */
  const checkRecipients = (value: string, path: string, field: 'to' | 'cc'): void => {
    if (hasLiquid(value)) {
      checkTemplate(value, path, `the "${field}" expression`);
      return;
    }
    const entries = value
      .split(/[,;]/)
      .map((x) => x.trim())
      .filter((x) => x !== '');
    if (entries.length === 0 && field === 'to') {
      report(
        'email_recipient',
        path,
        'The email has no recipient: "to" names no entry. Use "customer", "admin", an email address, or a Liquid expression such as {{ order.data.contact.email }}.',
      );
      return;
    }
    const bad = entries.filter((x) => x !== 'customer' && x !== 'admin' && !isEmailAddress(x));
    if (bad.length > 0) {
      const first = bad[0] as string;
      const hint = ['admin', 'customer'].find((k) => first.toLowerCase() === k || first.toLowerCase() === `${k}s`);
      report(
        'email_recipient',
        path,
        `The ${quote(field)} entry ${quote(clip(first, 100))}${bad.length > 1 ? ` (and ${bad.length - 1} more)` : ''} is neither "customer" (the order's customer email), "admin" (the configured admin addresses) nor an email address such as orders@example.com, so the email would always fail.${hint ? ` Did you mean ${quote(hint)}?` : ''} Fix the entry, or use a Liquid expression such as {{ order.data.contact.email }}.`,
      );
      return;
    }
    const addresses = new Set(entries.filter((x) => x !== 'customer' && x !== 'admin').map((x) => x.toLowerCase()));
    if (addresses.size > MAX_RECIPIENTS) {
      report(
        'email_recipient',
        path,
        `${quote(field)} lists ${addresses.size} addresses; an email goes to at most ${MAX_RECIPIENTS} recipients (to and cc together). Send to a mailing list address instead.`,
      );
    }
  };

  // States ----------------------------------------------------------------
  const byKey = new Map<string, { state: State; index: number }>();
  d.states.forEach((s, i) => {
    const first = byKey.get(s.key);
    if (first) report('duplicate_state', `states.${i}.key`, `State ${quote(s.key)} is defined twice (first at states.${first.index}).`);
    else byKey.set(s.key, { state: s, index: i });
  });
  const stateOf = (key: string): State | undefined => byKey.get(key)?.state;
  const unique = [...byKey.values()].map((e) => e.state);
  const criteria = workflowCriteria(d);
  const reasonKnown = (r: { initiator: 'customer' | 'provider'; code: string }): boolean =>
    workflowReasons(d, r.initiator).includes(r.code);
  const reasonMessage = (r: { initiator: 'customer' | 'provider'; code: string }): string =>
    `Reason code ${quote(r.code)} is not known for initiator ${quote(r.initiator)}; known: ${quoteList(workflowReasons(d, r.initiator))}. Declare it under reasons.${r.initiator}.`;

  const initials = d.states.flatMap((s, i) => (s.initial === true ? [{ s, i }] : []));
  const firstInitial = initials[0];
  if (!firstInitial) {
    report('initial_state_count', 'states', 'No state is marked initial: exactly one state of group "new" needs "initial": true.');
  } else {
    for (const { s, i } of initials.slice(1)) {
      report(
        'initial_state_count',
        `states.${i}.initial`,
        `State ${quote(s.key)} is marked initial, but so is ${quote(firstInitial.s.key)}: exactly one state may be initial.`,
      );
    }
  }
  for (const { s, i } of initials) {
    if (s.group !== 'new') {
      report(
        'initial_not_in_new',
        `states.${i}.group`,
        `The initial state ${quote(s.key)} is in group ${quote(s.group)}; it must be in group "new".`,
      );
    }
  }
  for (const g of ['new', 'cancelled', 'completed'] as const) {
    if (!d.states.some((s) => s.group === g)) report('empty_group', 'states', `Group ${quote(g)} has no state; it needs at least one.`);
  }

  d.states.forEach((s, i) => {
    const at = `states.${i}`;
    if (s.cancellation) {
      if (s.group !== 'cancelled') {
        report(
          'cancellation_outside_cancelled',
          `${at}.cancellation`,
          `State ${quote(s.key)} is in group ${quote(s.group)}; only cancelled states take a default cancellation reason.`,
        );
      }
      if (!reasonKnown(s.cancellation)) report('unknown_reason', `${at}.cancellation.code`, reasonMessage(s.cancellation));
    }
    if (s.requires && s.requires.length > 0) {
      if (s.group !== 'completed') {
        report(
          'requires_outside_completed',
          `${at}.requires`,
          `State ${quote(s.key)} is in group ${quote(s.group)}; only completed states can require criteria.`,
        );
      }
      s.requires.forEach((c, k) => {
        if (!criteria.includes(c)) {
          report(
            'unknown_criterion',
            `${at}.requires.${k}`,
            `Criterion ${quote(c)} is not known; known: ${quoteList(criteria)}. Declare it in criteria.`,
          );
        }
      });
    }
    const timeout = s.timeout;
    if (timeout) {
      if (isTerminalGroup(s.group)) {
        report(
          'terminal_outgoing',
          `${at}.timeout`,
          `State ${quote(s.key)} is a ${s.group} state; orders never leave it, so it cannot have a timeout.`,
        );
      }
      const target = stateOf(timeout.to);
      if (timeout.to === s.key) {
        report('timeout_to_self', `${at}.timeout.to`, `The timeout of ${quote(s.key)} leads back to ${quote(s.key)} itself.`);
      } else if (!target) {
        report('unknown_state', `${at}.timeout.to`, `The timeout of ${quote(s.key)} leads to ${quote(timeout.to)}, which is not a state.`);
      } else {
        if (target.group === 'new') {
          report(
            'timeout_backwards',
            `${at}.timeout.to`,
            `The timeout of ${quote(s.key)} leads back into group "new" (${quote(target.key)}).`,
          );
        }
        if (target.group === 'cancelled' && !timeout.reason && !target.cancellation) {
          report(
            'reason_missing',
            `${at}.timeout`,
            `The timeout of ${quote(s.key)} enters the cancelled state ${quote(target.key)} without a reason, and that state has no default cancellation reason: it would always be refused.`,
          );
        }
      }
      if (timeout.reason && !reasonKnown(timeout.reason))
        report('unknown_reason', `${at}.timeout.reason.code`, reasonMessage(timeout.reason));
    }
  });

  // Conditions (rules and transition guards) -------------------------------
  const checkCondition = (condition: Condition | undefined, path: string): void => {
    walkComparisons(condition, path, (c, at) => {
      if (c.op === 'exists') return;
      if (c.value === undefined) {
        report(
          'condition_value',
          `${at}.value`,
          `The comparison of ${quote(c.path)} with ${quote(c.op)} needs a "value" to compare with; without one it would ${c.op === 'neq' || c.op === 'nin' ? 'always' : 'never'} hold. Add a "value", or use "op": "exists" to test that the path is set.`,
        );
      } else if ((c.op === 'in' || c.op === 'nin') && !Array.isArray(c.value)) {
        report(
          'condition_value',
          `${at}.value`,
          `The comparison of ${quote(c.path)} with ${quote(c.op)} needs a list as "value" (e.g. ["a", "b"]); with ${JSON.stringify(c.value)?.slice(0, 100) ?? 'this value'} it would ${c.op === 'nin' ? 'always' : 'never'} hold. Write the value as a list, or use "eq"/"neq" for a single value.`,
        );
      }
    });
    walkShorthand(condition, path, (key, value, at) => {
      if ((key === 'new_state' || key === 'old_state') && !byKey.has(value)) {
        report('unknown_state', at, `Condition ${key} refers to ${quote(value)}, which is not a state.`);
      }
      if ((key === 'new_group' || key === 'old_group') && !(GROUPS as readonly string[]).includes(value)) {
        report('unknown_group', at, `Condition ${key} refers to ${quote(value)}, which is not a group; groups: ${quoteList(GROUPS)}.`);
      }
    });
  };

  // Transitions -------------------------------------------------------------
  d.transitions.forEach((t, i) => {
    const at = `transitions.${i}`;
    const isGroupFrom = t.from === '*' || t.from.startsWith('group:');
    const from = isGroupFrom ? undefined : stateOf(t.from);
    if (!isGroupFrom && !from) report('unknown_state', `${at}.from`, `Transition from ${quote(t.from)}: no such state.`);
    if (!byKey.has(t.to)) report('unknown_state', `${at}.to`, `Transition to ${quote(t.to)}: no such state.`);
    const fromGroup = t.from.startsWith('group:') ? t.from.slice(6) : from?.group;
    if (fromGroup !== undefined && isTerminalGroup(fromGroup)) {
      report(
        'terminal_outgoing',
        at,
        `Transition ${t.from} → ${t.to} leaves the ${fromGroup} group; orders in a terminal group never move again.`,
      );
    }
    checkCondition(t.guard, `${at}.guard`);
  });

  // Every (from, to) pair a declared transition allows, with `*` and `group:` expanded.
  const moves = new Graph(unique);
  d.transitions.forEach((t, i) => {
    for (const s of unique) if (fromMatches(t.from, s)) moves.add(s, t.to, `transitions.${i}`);
  });
  const edgeExists = (from: State, to: string): boolean => moves.has(from.key, to);

  // Rules -------------------------------------------------------------------
  const rules = d.rules ?? [];
  const ruleIds = new Map<string, number>();
  // Moves made by enabled rules' transition actions, for the graph analysis below.
  const ruleMoves: { sources: State[]; to: string; origin: string }[] = [];
  // What triggers rules, and what rules trigger: `state:K` (entering K), `timers:K` (K's timeout and
  // time_in_state rules), `created`, `fact:F`, `event:E`. A cycle here runs without outside input.
  const automated = new NodeGraph();
  for (const s of unique) {
    automated.node(`state:${s.key}`);
    automated.node(`timers:${s.key}`);
  }
  automated.node('created');
  for (const c of criteria) automated.node(`fact:${c}`);
  for (const r of rules) if (r.trigger === 'event_received' && r.event !== undefined) automated.node(`event:${r.event}`);
  const eventNodes = automated.nodes.filter((n) => n.startsWith('event:'));
  rules.forEach((rule, i) => {
    const at = `rules.${i}`;
    const id = ruleIdOf(rule, i);
    const seen = ruleIds.get(id);
    if (seen !== undefined) {
      report(
        'duplicate_rule_id',
        rule.id !== undefined ? `${at}.id` : at,
        rule.id !== undefined
          ? `Rule id ${quote(id)} is already used by rules.${seen}.`
          : `This rule has no id and gets ${quote(id)}, which rules.${seen} already uses; give one of them an explicit id.`,
      );
    } else {
      ruleIds.set(id, i);
    }

    const expected = TRIGGER_FIELDS[rule.trigger];
    for (const field of expected) {
      if (rule[field] === undefined) {
        report('trigger_field_missing', `${at}.${field}`, `A ${rule.trigger} rule needs ${quote(field)}.`);
      }
    }
    for (const field of ALL_TRIGGER_FIELDS) {
      if (rule[field] !== undefined && !expected.includes(field)) {
        report('trigger_field_unexpected', `${at}.${field}`, `${quote(field)} has no effect on a ${rule.trigger} rule.`);
      }
    }
    if (rule.state !== undefined && !byKey.has(rule.state)) {
      report('unknown_state', `${at}.state`, `Rule state ${quote(rule.state)} is not a state.`);
    }
    if (rule.fact !== undefined && !criteria.includes(rule.fact)) {
      report(
        'unknown_criterion',
        `${at}.fact`,
        `Criterion ${quote(rule.fact)} is not known; known: ${quoteList(criteria)}. Declare it in criteria.`,
      );
    }
    checkCondition(rule.conditions, `${at}.conditions`);
    if (rule.actions.length === 0) report('rule_no_actions', `${at}.actions`, `Rule ${quote(id)} has no actions; it does nothing.`);

    const firing = firingStates(rule, unique, stateOf);
    const triggeredAt =
      rule.trigger === 'state_changed'
        ? firing.states.map((s) => `state:${s.key}`)
        : rule.trigger === 'time_in_state'
          ? rule.state !== undefined
            ? [`timers:${rule.state}`]
            : []
          : rule.trigger === 'order_created'
            ? ['created']
            : rule.trigger === 'fact_recorded'
              ? [`fact:${rule.fact ?? ''}`]
              : [`event:${rule.event ?? ''}`];
    const triggers = (targets: readonly string[], origin: string): void => {
      if (rule.enabled === false) return;
      for (const from of triggeredAt) for (const to of targets) automated.add(from, to, origin);
    };
    rule.actions.forEach((action, j) => {
      const aat = `${at}.actions.${j}`;
      switch (action.type) {
        case 'send_email':
          if (lists.templates && !lists.templates.includes(action.template)) {
            report('unknown_template', `${aat}.template`, `Email template ${quote(action.template)} does not exist.`);
          }
          checkRecipients(action.to, `${aat}.to`, 'to');
          // The sender skips a blank cc.
          if (action.cc !== undefined && action.cc.trim() !== '') checkRecipients(action.cc, `${aat}.cc`, 'cc');
          break;
        case 'webhook':
          if ((action.url === undefined) === (action.endpoint === undefined)) {
            report(
              'webhook_target',
              aat,
              action.url === undefined
                ? 'A webhook action needs a "url" or an "endpoint".'
                : 'A webhook action takes either a "url" or an "endpoint", not both.',
            );
          }
          if (action.endpoint !== undefined && lists.endpoints && !lists.endpoints.includes(action.endpoint)) {
            report('unknown_endpoint', `${aat}.endpoint`, `Webhook endpoint ${quote(action.endpoint)} does not exist.`);
          }
          if (action.url !== undefined) {
            const problem = webhookUrlProblem(action.url);
            if (problem) report('webhook_url', `${aat}.url`, problem);
          }
          for (const [name, value] of Object.entries(action.headers ?? {})) {
            if (!HEADER_NAME.test(name)) {
              report(
                'webhook_header_name',
                `${aat}.headers.${name}`,
                `Header name ${quote(clip(name, 100))} cannot be sent: a header name is 1 to 100 ASCII letters, digits or !#$%&'*+-.^_\`|~, without spaces, line breaks, colons or accented letters. Rename the header.`,
              );
            }
            if (CREDENTIAL_HEADER.test(name)) {
              report(
                'webhook_credential_header',
                `${aat}.headers.${name}`,
                `Header ${quote(name)} looks like a credential; rule definitions are shown to every role. Create a named endpoint (/api/v1/endpoints) with this header and use "endpoint" instead: its headers are stored but never returned.`,
              );
            }
            // Header values are always rendered, Liquid or not.
            checkTemplate(value, `${aat}.headers.${name}`, `header ${quote(clip(name, 100))}`);
          }
          if (action.body !== undefined) {
            const parsed = parsedJsonBody(action.body);
            if (parsed !== undefined) {
              // A string holding a JSON object or array is sent as that value: its leaves are the templates.
              walkStrings(parsed, '', (leaf, at) => {
                if (hasLiquid(leaf))
                  checkTemplate(leaf, `${aat}.body`, `the webhook body (at ${at === '' ? 'the top' : quote(at.slice(1))})`);
              });
            } else {
              walkStrings(action.body, `${aat}.body`, (leaf, at) => {
                if (hasLiquid(leaf)) checkTemplate(leaf, at, 'the webhook body');
              });
            }
          }
          if (action.url !== undefined && postsOrderEvents(action.url)) {
            const type = eventTypeOf(action.body);
            triggers(type === undefined ? eventNodes : [`event:${type}`], aat);
          }
          break;
        case 'record_fact':
          if (!criteria.includes(action.fact)) {
            report(
              'unknown_criterion',
              `${aat}.fact`,
              `Criterion ${quote(action.fact)} is not known; known: ${quoteList(criteria)}. Declare it in criteria.`,
            );
          }
          triggers([`fact:${action.fact}`], aat);
          break;
        case 'create_order':
          // Data given as text is always rendered, then read as JSON; an object's values like set_data's.
          if (typeof action.data === 'string') checkTemplate(action.data, `${aat}.data`, 'the create_order data');
          else if (action.data !== undefined) checkRenderedValue(action.data, `${aat}.data`, 'the create_order data');
          if (lists.workflows && action.workflow !== d.key && !lists.workflows.includes(action.workflow)) {
            report('unknown_workflow', `${aat}.workflow`, `Workflow ${quote(action.workflow)} does not exist.`);
          }
          if (action.workflow === d.key) triggers(['created'], aat);
          break;
        case 'transition': {
          const target = stateOf(action.to);
          if (!target) report('unknown_state', `${aat}.to`, `Rule transition to ${quote(action.to)}: no such state.`);
          if (action.reason && !reasonKnown(action.reason)) report('unknown_reason', `${aat}.reason.code`, reasonMessage(action.reason));
          if (target?.group === 'cancelled' && !action.reason && !target.cancellation) {
            report(
              'reason_missing',
              aat,
              `This transition enters the cancelled state ${quote(target.key)} without a reason, and that state has no default cancellation reason: it would always be refused.`,
            );
          }
          if (firing.restricted && firing.states.length > 0 && firing.states.every((s) => isTerminalGroup(s.group))) {
            report(
              'terminal_outgoing',
              aat,
              `Rule ${quote(id)} only fires in terminal states (${quoteList(firing.states.map((s) => s.key))}); orders never leave them.`,
            );
          }
          const sources = firing.states.filter((s) => !isTerminalGroup(s.group));
          if (target && sources.length > 0 && !sources.some((s) => edgeExists(s, target.key))) {
            report(
              'rule_transition_no_edge',
              `${aat}.to`,
              `No transition leads to ${quote(target.key)} from the states rule ${quote(id)} fires in (${quoteList(sources.map((s) => s.key))}); the move would be refused.`,
            );
          }
          if (target && rule.enabled !== false) {
            ruleMoves.push({ sources, to: target.key, origin: aat });
            if (rule.trigger === 'state_changed' || rule.trigger === 'time_in_state') {
              // Orders never leave a terminal state, so a rule firing there moves nothing.
              for (const s of sources) {
                automated.add(rule.trigger === 'state_changed' ? `state:${s.key}` : `timers:${s.key}`, `state:${target.key}`, aat);
              }
            } else {
              triggers([`state:${target.key}`], aat);
            }
          }
          break;
        }
        case 'set_data':
          checkRenderedValue(action.set, `${aat}.set`, 'this set_data value');
          break;
        case 'notify':
          checkTemplate(action.message, `${aat}.message`, 'the notify message');
          break;
        default:
          break;
      }
    });
  });

  // Layout ------------------------------------------------------------------
  for (const key of Object.keys(d.layout ?? {})) {
    if (!byKey.has(key))
      report('layout_unknown_state', `layout.${key}`, `The layout has a position for ${quote(key)}, which is not a state.`);
  }

  // Graph analysis ----------------------------------------------------------
  const indexOf = (key: string): number => byKey.get(key)?.index ?? -1;
  for (const s of unique) {
    automated.add(`state:${s.key}`, `timers:${s.key}`, '');
    if (s.timeout && s.timeout.to !== s.key) {
      moves.add(s, s.timeout.to, `states.${indexOf(s.key)}.timeout`);
      if (!isTerminalGroup(s.group)) automated.add(`timers:${s.key}`, `state:${s.timeout.to}`, `states.${indexOf(s.key)}.timeout`);
    }
  }
  if (firstInitial && byKey.has(firstInitial.s.key)) automated.add('created', `timers:${firstInitial.s.key}`, '');
  for (const m of ruleMoves) {
    for (const s of m.sources) moves.add(s, m.to, m.origin);
  }

  const roots = unique.filter((s) => s.group === 'new').map((s) => s.key);
  if (roots.length > 0) {
    const reached = reachable(roots, (k) => moves.from(k).map((e) => e.to));
    for (const s of unique) {
      if (!reached.has(s.key)) {
        report(
          'unreachable_state',
          `states.${indexOf(s.key)}`,
          `No order can reach ${quote(s.key)}: no transition, timeout or rule leads there from a "new" state.`,
        );
      }
    }
  }

  const terminals = unique.filter((s) => isTerminalGroup(s.group)).map((s) => s.key);
  if (terminals.length > 0) {
    const reverse = new Map<string, string[]>(unique.map((s) => [s.key, []]));
    for (const s of unique) for (const e of moves.from(s.key)) reverse.get(e.to)?.push(s.key);
    const leads = reachable(terminals, (k) => reverse.get(k) ?? []);
    for (const s of unique) {
      if (!isTerminalGroup(s.group) && !leads.has(s.key)) {
        report(
          'no_path_to_terminal',
          `states.${indexOf(s.key)}`,
          `Orders in ${quote(s.key)} can never reach a cancelled or completed state.`,
        );
      }
    }
  }

  for (const cycle of automatedCycles(automated.nodes, automated)) {
    const at = (cycle.find((e) => e.origin.startsWith('rules.')) ?? cycle.find((e) => e.origin !== ''))?.origin ?? 'states';
    const names = [cycle[0]?.from ?? '', ...cycle.map((e) => e.to)].flatMap((n) => nodeLabel(n)).join(' → ');
    const via = [...new Set(cycle.map((e) => e.origin).filter((o) => o !== ''))].join(', ');
    report('automated_cycle', at, `Automation can loop without outside input: ${names} (via ${via}).`);
  }

  return problems;
}

/** How a node of the automation graph reads in a message; timer nodes are implied by their state. */
function nodeLabel(node: string): string[] {
  const [kind, ...rest] = node.split(':');
  const key = rest.join(':');
  switch (kind) {
    case 'state':
      return [key];
    case 'created':
      return ['(order created)'];
    case 'fact':
      return [`(fact ${quote(key)})`];
    case 'event':
      return [`(event ${quote(key)})`];
    default:
      return [];
  }
}

/** Header names that carry credentials. */
const CREDENTIAL_HEADER = /authorization|cookie|token|secret|key|password/i;

/** Header names the webhook sender accepts: an HTTP token (RFC 9110) of at most 100 characters. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;

/** Most recipients of one email, to and cc together (the engine's email sender refuses more). */
const MAX_RECIPIENTS = 50;

// A bare address as the email sender accepts it: a dot-atom local part of at most 64 characters,
// an `@`, and a host name of letter/digit/hyphen labels; at most 254 characters in all.
const EMAIL_LOCAL = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const EMAIL_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function isEmailAddress(value: string): boolean {
  const at = value.lastIndexOf('@');
  if (value.length > 254 || at <= 0) return false;
  const local = value.slice(0, at);
  return (
    local.length <= 64 &&
    EMAIL_LOCAL.test(local) &&
    value
      .slice(at + 1)
      .split('.')
      .every((label) => EMAIL_LABEL.test(label))
  );
}

/** True when a string holds Liquid markup; the runtime renders such strings and leaves others as they are. */
const hasLiquid = (s: string): boolean => s.includes('{{') || s.includes('{%');

/** A value that is exactly `{{ path }}`: the runtime copies what the path points at, without Liquid (decide's renderValue). */
const COPIED_PATH = /^\{\{\s*([A-Za-z_][\w.]*)\s*\}\}$/;

/** At most `n` characters of `s`, with an ellipsis when cut. */
const clip = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n)}…` : s);

/** A webhook body given as text that holds a JSON object or array: that value (the sender reads it so). */
function parsedJsonBody(body: unknown): unknown {
  if (typeof body !== 'string' || !/^\s*[[{]/.test(body)) return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Calls `visit` for every string in a JSON value, in document order, with its dotted path
 * (`path` itself for a string). `__proto__` keys are skipped, as the renderers skip them.
 * Iterative, so that deep values cannot exhaust the stack.
 */
function walkStrings(value: unknown, path: string, visit: (s: string, path: string) => void): void {
  const stack: [unknown, string][] = [[value, path]];
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    const [v, at] = item;
    if (typeof v === 'string') visit(v, at);
    else if (v !== null && typeof v === 'object') {
      const entries = Array.isArray(v) ? v.map((x, i): [string, unknown] => [String(i), x]) : Object.entries(v);
      for (let k = entries.length - 1; k >= 0; k--) {
        const [key, child] = entries[k] as [string, unknown];
        if (key !== '__proto__') stack.push([child, `${at}.${key}`]);
      }
    }
  }
}

/** Calls `visit` for every comparison (`{ path, op, value? }`) in a condition, with its path. */
function walkComparisons(
  condition: Condition | undefined,
  path: string,
  visit: (c: { path: string; op: string; value?: unknown }, path: string) => void,
): void {
  if (condition === undefined || condition === null || typeof condition !== 'object') return;
  const c = condition as Record<string, unknown>;
  const list = Array.isArray(c.all) ? 'all' : Array.isArray(c.any) ? 'any' : undefined;
  if (list) {
    for (const [i, x] of (c[list] as unknown[]).entries()) walkComparisons(x as Condition, `${path}.${list}.${i}`, visit);
  } else if ('not' in c) {
    walkComparisons(c.not as Condition, `${path}.not`, visit);
  } else if (typeof c.path === 'string' && typeof c.op === 'string') {
    visit(c as { path: string; op: string; value?: unknown }, path);
  }
}

/** The WHATWG URL parser (the core library is typed without DOM or Node globals). */
interface ParsedUrl {
  protocol: string;
  username: string;
  password: string;
}
const UrlParser = (globalThis as unknown as { URL: new (url: string) => ParsedUrl }).URL;

/** Why a rule webhook URL is refused, or undefined when it is fine. */
function webhookUrlProblem(url: string): string | undefined {
  let parsed: ParsedUrl;
  try {
    parsed = new UrlParser(url);
  } catch {
    return `The webhook URL ${quote(url)} is not a valid URL.`;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return `The webhook URL uses ${quote(parsed.protocol.replace(/:$/, ''))}; only http and https are supported.`;
  }
  if (parsed.username !== '' || parsed.password !== '') {
    return 'The webhook URL carries credentials (user:pass@); rule definitions are shown to every role. Use a named endpoint with an Authorization header instead.';
  }
  return undefined;
}

/** True when a webhook URL posts to an order's events on an Orderflow API (possibly this one). */
function postsOrderEvents(url: string): boolean {
  const path = url.split(/[?#]/)[0] ?? '';
  return /\/orders\/[^/]+\/events\/?$/.test(path);
}

/** The event type a webhook body posts, when it is a literal. */
function eventTypeOf(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const type = (body as Record<string, unknown>).type;
  return typeof type === 'string' && !type.includes('{') ? type : undefined;
}

/** Calls `visit` for every shorthand equality value in a condition, with its path. */
function walkShorthand(condition: Condition | undefined, path: string, visit: (key: string, value: string, path: string) => void): void {
  if (condition === undefined || condition === null || typeof condition !== 'object') return;
  const c = condition as Record<string, unknown>;
  const list = Array.isArray(c.all) ? 'all' : Array.isArray(c.any) ? 'any' : undefined;
  if (list) {
    for (const [i, x] of (c[list] as unknown[]).entries()) walkShorthand(x as Condition, `${path}.${list}.${i}`, visit);
  } else if ('not' in c) {
    walkShorthand(c.not as Condition, `${path}.not`, visit);
  } else if (typeof c.path !== 'string') {
    for (const [key, value] of Object.entries(c)) {
      if (typeof value === 'string') visit(key, value, `${path}.${key}`);
      else if (Array.isArray(value)) {
        for (const [k, v] of value.entries()) if (typeof v === 'string') visit(key, v, `${path}.${key}.${k}`);
      }
    }
  }
}

/**
 * States an order can be in when a rule fires. `restricted` is true when the
 * trigger or the conditions narrow it down (a `time_in_state` rule's state, a
 * `new_state`/`new_group` condition, or creation); otherwise every state.
 */
function firingStates(
  rule: Rule,
  states: readonly State[],
  stateOf: (key: string) => State | undefined,
): { states: State[]; restricted: boolean } {
  let keys: Set<string> | undefined;
  if (rule.trigger === 'time_in_state') {
    const s = rule.state !== undefined ? stateOf(rule.state) : undefined;
    keys = new Set(s ? [s.key] : []);
  } else if (rule.trigger === 'order_created') {
    keys = new Set(states.filter((s) => s.group === 'new').map((s) => s.key));
  }
  const byCondition = conditionStates(rule.conditions, states);
  if (byCondition) keys = keys ? new Set([...keys].filter((k) => byCondition.has(k))) : byCondition;
  if (!keys) return { states: [...states], restricted: false };
  return { states: states.filter((s) => keys.has(s.key)), restricted: true };
}

/** States a condition allows as the current (`new_state`) one, or undefined when it does not narrow them. */
function conditionStates(condition: Condition | undefined, states: readonly State[]): Set<string> | undefined {
  if (condition === undefined || condition === null || typeof condition !== 'object') return undefined;
  const c = condition as Record<string, unknown>;
  const intersect = (a: Set<string> | undefined, b: Set<string> | undefined): Set<string> | undefined =>
    a === undefined ? b : b === undefined ? a : new Set([...a].filter((x) => b.has(x)));
  if (Array.isArray(c.all)) {
    let out: Set<string> | undefined;
    for (const x of c.all) out = intersect(out, conditionStates(x as Condition, states));
    return out;
  }
  if (Array.isArray(c.any)) {
    if (c.any.length === 0) return new Set();
    const out = new Set<string>();
    for (const x of c.any) {
      const part = conditionStates(x as Condition, states);
      if (part === undefined) return undefined;
      for (const k of part) out.add(k);
    }
    return out;
  }
  if ('not' in c) return undefined;
  const values = (v: unknown): string[] | undefined =>
    typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : undefined;
  if (typeof c.path === 'string') {
    const listed = c.op === 'eq' ? values(typeof c.value === 'string' ? c.value : undefined) : c.op === 'in' ? values(c.value) : undefined;
    if (!listed) return undefined;
    if (c.path === 'new_state') return new Set(listed);
    if (c.path === 'new_group') return new Set(states.filter((s) => listed.includes(s.group)).map((s) => s.key));
    return undefined;
  }
  const byState = values(c.new_state);
  const byGroup = values(c.new_group);
  return intersect(
    byState ? new Set(byState) : undefined,
    byGroup ? new Set(states.filter((s) => byGroup.includes(s.group)).map((s) => s.key)) : undefined,
  );
}

function reachable(roots: readonly string[], next: (key: string) => readonly string[]): Set<string> {
  const seen = new Set(roots);
  const queue = [...roots];
  for (let k = queue.shift(); k !== undefined; k = queue.shift()) {
    for (const n of next(k)) {
      if (!seen.has(n)) {
        seen.add(n);
        queue.push(n);
      }
    }
  }
  return seen;
}

/**
 * One cycle per strongly connected set of states in the automated graph (or
 * per self-loop), starting at its earliest state in `order`.
 */
function automatedCycles(order: readonly string[], graph: NodeGraph): { from: string; to: string; origin: string }[][] {
  const components = stronglyConnected(order, graph);
  const position = new Map(order.map((k, i) => [k, i]));
  const cycles: { from: string; to: string; origin: string }[][] = [];
  for (const component of components) {
    const members = new Set(component);
    const start = [...component].sort((a, b) => (position.get(a) ?? 0) - (position.get(b) ?? 0))[0];
    if (start === undefined) continue;
    const self = graph.from(start).find((e) => e.to === start);
    if (component.length === 1) {
      if (self) cycles.push([{ from: start, to: start, origin: self.origin }]);
      continue;
    }
    // Shortest way from `start` back to itself inside the component.
    const via = new Map<string, { from: string; origin: string }>();
    const queue = [start];
    let closing: { from: string; origin: string } | undefined;
    for (let k = queue.shift(); k !== undefined && !closing; k = queue.shift()) {
      for (const e of graph.from(k)) {
        if (!members.has(e.to)) continue;
        if (e.to === start) {
          closing = { from: k, origin: e.origin };
          break;
        }
        if (!via.has(e.to)) {
          via.set(e.to, { from: k, origin: e.origin });
          queue.push(e.to);
        }
      }
    }
    if (!closing) continue;
    const cycle = [{ from: closing.from, to: start, origin: closing.origin }];
    for (let k = closing.from; k !== start; ) {
      const step = via.get(k);
      if (!step) break;
      cycle.unshift({ from: step.from, to: k, origin: step.origin });
      k = step.from;
    }
    cycles.push(cycle);
  }
  return cycles.sort((a, b) => (position.get(a[0]?.from ?? '') ?? 0) - (position.get(b[0]?.from ?? '') ?? 0));
}

/** Tarjan's algorithm, iterative so that long chains of states cannot exhaust the stack. */
function stronglyConnected(nodes: readonly string[], graph: NodeGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const components: string[][] = [];
  let counter = 0;
  for (const root of nodes) {
    if (index.has(root)) continue;
    const work: { node: string; next: number }[] = [{ node: root, next: 0 }];
    index.set(root, counter);
    low.set(root, counter);
    counter++;
    stack.push(root);
    onStack.add(root);
    while (work.length > 0) {
      const frame = work[work.length - 1] as { node: string; next: number };
      const edges = graph.from(frame.node);
      if (frame.next < edges.length) {
        const to = (edges[frame.next] as Edge).to;
        frame.next++;
        if (!index.has(to)) {
          index.set(to, counter);
          low.set(to, counter);
          counter++;
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, next: 0 });
        } else if (onStack.has(to)) {
          low.set(frame.node, Math.min(low.get(frame.node) ?? 0, index.get(to) ?? 0));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) low.set(parent.node, Math.min(low.get(parent.node) ?? 0, low.get(frame.node) ?? 0));
      if (low.get(frame.node) === index.get(frame.node)) {
        const component: string[] = [];
        for (let k = stack.pop(); k !== undefined; k = stack.pop()) {
          onStack.delete(k);
          component.push(k);
          if (k === frame.node) break;
        }
        components.push(component);
      }
    }
  }
  return components;
}
