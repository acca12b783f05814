import { type Definition, findState, ruleIdOf } from './definition.js';
import { addMs, parseDuration } from './duration.js';
import type { Order, Timer } from './model.js';

/**
 * The timers a state declares for one visit: its timeout and one per enabled
 * `time_in_state` rule waiting in it, due `from` + their duration.
 */
export function stateTimers(definition: Definition, order: Order, from: string, newId: (prefix: string) => string): Timer[] {
  const timers: Timer[] = [];
  const state = findState(definition, order.state);
  const timeoutMs = state?.timeout ? parseDuration(state.timeout.after) : undefined;
  if (timeoutMs !== undefined) {
    timers.push({
      id: newId('tmr'),
      orderId: order.id,
      kind: 'timeout',
      dueAt: addMs(from, timeoutMs),
      state: order.state,
      visit: order.visit,
      scope: 'visit',
    });
  }
  (definition.rules ?? []).forEach((rule, index) => {
    if (rule.trigger !== 'time_in_state' || rule.state !== order.state || rule.enabled === false || !rule.after) return;
    const ms = parseDuration(rule.after);
    if (ms === undefined) return;
    timers.push({
      id: newId('tmr'),
      orderId: order.id,
      kind: 'time_in_state',
      dueAt: addMs(from, ms),
      state: order.state,
      visit: order.visit,
      scope: 'visit',
      ruleId: ruleIdOf(rule, index),
      payload: { trigger: 'time_in_state', to: order.state },
    });
  });
  return timers;
}
