import { describe, expect, it } from 'vitest';
import { DEMO_WORKFLOWS } from './demo.js';
import { addMs, isDuration, MAX_DURATION_MS, parseDuration } from './duration.js';
import { validateDefinition } from './validate-definition.js';

describe('durations', () => {
  it('accepts durations up to 100 years and refuses longer ones', () => {
    expect(isDuration('5214w')).toBe(true);
    expect(parseDuration('5214w')).toBeLessThanOrEqual(MAX_DURATION_MS);
    for (const text of ['5215w', '999999999w', '100000000d', '14000000w', 'P999999999W', `${'9'.repeat(60)}s`]) {
      expect(isDuration(text), text).toBe(false);
    }
    expect(isDuration('30s')).toBe(true);
    expect(isDuration('PT2H')).toBe(true);
  });

  it('never computes a due time that is no date, or that sorts before an ordinary one', () => {
    // A duration stored before the bound existed still gives a due time: the last instant of 9999.
    expect(addMs('2026-12-01T10:00:00.000Z', 999_999_999 * 604_800_000)).toBe('9999-12-31T23:59:59.999Z');
    expect(addMs('2026-12-01T10:00:00.000Z', 3_600_000)).toBe('2026-12-01T11:00:00.000Z');
    expect('9999-12-31T23:59:59.999Z' > '2026-12-01T10:00:00.000Z').toBe(true);
  });

  it('refuses a workflow whose timeout, delay or time_in_state is longer than 100 years', () => {
    const base = structuredClone(DEMO_WORKFLOWS.find((w) => w.key === 'orders'));
    if (!base) throw new Error('no demo orders workflow');
    const withTimeout = structuredClone(base);
    const waiting = withTimeout.states.find((s) => s.timeout);
    if (!waiting?.timeout) throw new Error('no state with a timeout');
    waiting.timeout.after = '999999999w';
    const index = withTimeout.states.indexOf(waiting);
    const result = validateDefinition(withTimeout);
    expect(result.ok).toBe(false);
    expect(result.problems).toContainEqual(
      expect.objectContaining({
        code: 'schema',
        path: `states.${index}.timeout.after`,
        message: expect.stringMatching(/at most 100 years/),
      }),
    );

    const withDelay = structuredClone(base);
    const rule = withDelay.rules?.[0];
    if (!rule?.actions[0]) throw new Error('no rule');
    rule.actions[0].delay = '1d';
    expect(validateDefinition(withDelay).ok).toBe(true);
    rule.actions[0].delay = '100000000d';
    expect(validateDefinition(withDelay).ok).toBe(false);

    const withTimeInState = structuredClone(base);
    withTimeInState.rules?.push({
      id: 'very-late',
      trigger: 'time_in_state',
      state: 'shipping',
      after: '14000000w',
      actions: [{ type: 'notify', channel: 'admins', message: 'late' }],
    } as never);
    const late = withTimeInState.rules?.at(-1) as { after: string };
    late.after = '2w';
    expect(validateDefinition(withTimeInState).problems.filter((p) => p.severity === 'error')).toEqual([]);
    late.after = '14000000w';
    expect(validateDefinition(withTimeInState).ok).toBe(false);
  });
});
