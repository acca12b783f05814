/**
 * A readable difference between two definitions, for the publish dialog.
 * Layout changes are ignored: they carry no meaning.
 */
import type { Definition, Group, Rule, State, Transition } from '@orderflow/core';
import { canonicalJson, GROUP_LABELS, ruleIdOf } from '@orderflow/core';

export interface DiffLine {
  change: 'added' | 'removed' | 'changed';
  subject: 'workflow' | 'state' | 'transition' | 'rule';
  /** What the line is about, e.g. a state key or `packing → shipping`. */
  target: string;
  /** Human sentence. */
  text: string;
}

// Compared by meaning: the order keys were written in never makes a change.
const json = (v: unknown): string => canonicalJson(v ?? null);
const transitionKey = (t: Transition): string => `${t.from} → ${t.to}`;

function describeField(field: string, before: unknown, after: unknown): string {
  if (before === undefined) return `${field} set to ${json(after)}`;
  if (after === undefined) return `${field} removed (was ${json(before)})`;
  return `${field} ${json(before)} → ${json(after)}`;
}

function fieldChanges(before: Record<string, unknown>, after: Record<string, unknown>, skip: string[] = []): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => !skip.includes(k)).sort();
  return keys.filter((k) => json(before[k]) !== json(after[k])).map((k) => describeField(k, before[k], after[k]));
}

const groupOrder = (d: Definition, group: Group): string[] => d.states.filter((s) => s.group === group).map((s) => s.key);

/** Lists what `next` changes compared with `base` (the published version; `null` when never published). */
export function diffDefinitions(base: Definition | null, next: Definition): DiffLine[] {
  const lines: DiffLine[] = [];
  if (!base) {
    lines.push({ change: 'added', subject: 'workflow', target: next.key, text: `First version of “${next.name}”` });
    return lines;
  }
  for (const field of ['name', 'description', 'kinds', 'reasons', 'criteria'] as const) {
    if (json(base[field]) !== json(next[field])) {
      lines.push({
        change: 'changed',
        subject: 'workflow',
        target: field,
        text: `Workflow ${describeField(field, base[field], next[field])}`,
      });
    }
  }

  const before = new Map(base.states.map((s) => [s.key, s] as [string, State]));
  const after = new Map(next.states.map((s) => [s.key, s] as [string, State]));
  for (const s of next.states) {
    const old = before.get(s.key);
    if (!old) {
      lines.push({
        change: 'added',
        subject: 'state',
        target: s.key,
        text: `State “${s.name}” (${s.key}) added to ${GROUP_LABELS[s.group]}`,
      });
      continue;
    }
    const changes = fieldChanges(old as Record<string, unknown>, s as Record<string, unknown>, ['group']);
    if (old.group !== s.group) changes.unshift(`moved from ${GROUP_LABELS[old.group]} to ${GROUP_LABELS[s.group]}`);
    if (changes.length) lines.push({ change: 'changed', subject: 'state', target: s.key, text: `State ${s.key}: ${changes.join('; ')}` });
  }
  for (const s of base.states) {
    if (!after.has(s.key)) {
      lines.push({
        change: 'removed',
        subject: 'state',
        target: s.key,
        text: `State “${s.name}” (${s.key}) removed from ${GROUP_LABELS[s.group]}`,
      });
    }
  }
  for (const g of ['new', 'processing', 'cancelled', 'completed'] as const) {
    const a = groupOrder(base, g).filter((k) => after.has(k) && after.get(k)?.group === g);
    const b = groupOrder(next, g).filter((k) => before.has(k) && before.get(k)?.group === g);
    if (a.length === b.length && json(a) !== json(b)) {
      lines.push({ change: 'changed', subject: 'state', target: g, text: `Order in ${GROUP_LABELS[g]}: ${b.join(', ')}` });
    }
  }

  const tBefore = new Map(base.transitions.map((t) => [transitionKey(t), t] as [string, Transition]));
  const tAfter = new Map(next.transitions.map((t) => [transitionKey(t), t] as [string, Transition]));
  for (const [k, t] of tAfter) {
    const old = tBefore.get(k);
    if (!old)
      lines.push({ change: 'added', subject: 'transition', target: k, text: `Transition ${k}${t.name ? ` (“${t.name}”)` : ''} added` });
    else {
      const changes = fieldChanges(old as Record<string, unknown>, t as Record<string, unknown>, ['from', 'to']);
      if (changes.length)
        lines.push({ change: 'changed', subject: 'transition', target: k, text: `Transition ${k}: ${changes.join('; ')}` });
    }
  }
  for (const [k] of tBefore) {
    if (!tAfter.has(k)) lines.push({ change: 'removed', subject: 'transition', target: k, text: `Transition ${k} removed` });
  }

  const rBefore = new Map((base.rules ?? []).map((r, i) => [ruleIdOf(r, i), r] as [string, Rule]));
  const rAfter = new Map((next.rules ?? []).map((r, i) => [ruleIdOf(r, i), r] as [string, Rule]));
  for (const [id, r] of rAfter) {
    const old = rBefore.get(id);
    const label = r.name ? `“${r.name}” (${id})` : id;
    if (!old) lines.push({ change: 'added', subject: 'rule', target: id, text: `Rule ${label} added` });
    else if (json(old) !== json(r)) {
      const changes = fieldChanges(old as Record<string, unknown>, r as Record<string, unknown>);
      lines.push({ change: 'changed', subject: 'rule', target: id, text: `Rule ${label}: ${changes.join('; ')}` });
    }
  }
  for (const [id, r] of rBefore) {
    if (!rAfter.has(id))
      lines.push({ change: 'removed', subject: 'rule', target: id, text: `Rule ${r.name ? `“${r.name}” (${id})` : id} removed` });
  }
  return lines;
}
