import { randomBytes } from 'node:crypto';
import type { AutomationState } from '@orderflow/core';
import type { Kysely } from 'kysely';
import type { DB } from '../store/schema.js';
import { getSetting, insertSettingIfAbsent, putSetting } from '../store/settings.js';

/** The automation kill switch (settings key `automation`), as the wire contract declares it. */
export type { AutomationState };

/** What a pause or resume applies to: everything, one workflow, or one rule of one workflow. */
export type AutomationTarget = { workflow: string } | { workflow: string; rule: string } | undefined;

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** Reads the automation switch. */
export async function getAutomation(db: Kysely<DB>): Promise<AutomationState> {
  const s = await getSetting<Partial<AutomationState>>(db, 'automation');
  return {
    paused: s?.paused === true,
    // Entries without a workflow (from before rules were paused per workflow) name no rule any more.
    rules: strings(s?.rules).filter((r) => r.includes(':')),
    workflows: strings(s?.workflows),
  };
}

const withItem = (list: string[], item: string) => (list.includes(item) ? list : [...list, item]);

/** Pauses automation globally, one workflow, or one rule. */
export async function pauseAutomation(db: Kysely<DB>, target?: AutomationTarget): Promise<AutomationState> {
  const s = await getAutomation(db);
  let next: AutomationState;
  if (!target) next = { ...s, paused: true };
  else if ('rule' in target) next = { ...s, rules: withItem(s.rules, `${target.workflow}:${target.rule}`) };
  else next = { ...s, workflows: withItem(s.workflows, target.workflow) };
  await putSetting(db, 'automation', next);
  return next;
}

/** Resumes automation globally, one workflow, or one rule. */
export async function resumeAutomation(db: Kysely<DB>, target?: AutomationTarget): Promise<AutomationState> {
  const s = await getAutomation(db);
  let next: AutomationState;
  if (!target) next = { ...s, paused: false };
  else if ('rule' in target) next = { ...s, rules: s.rules.filter((r) => r !== `${target.workflow}:${target.rule}`) };
  else next = { ...s, workflows: s.workflows.filter((w) => w !== target.workflow) };
  await putSetting(db, 'automation', next);
  return next;
}

/**
 * The keys decide() checks paused rules by: `WORKFLOW:RULE`, `WORKFLOW:*` for a paused workflow,
 * and `*` while everything is paused (then no rule matches, as with a paused workflow).
 */
export function pausedRuleKeys(s: AutomationState): Set<string> {
  const keys = new Set([...s.rules, ...s.workflows.map((w) => `${w}:*`)]);
  if (s.paused) keys.add('*');
  return keys;
}

/** A fresh Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
export const generateWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

/**
 * The global webhook signing secret: ORDERFLOW_WEBHOOK_SECRET, else the one stored in
 * settings, generated and stored on first use. Concurrent first uses agree on one value.
 */
export async function ensureWebhookSecret(db: Kysely<DB>, configured: string | null): Promise<{ secret: string; generated: boolean }> {
  if (configured) return { secret: configured, generated: false };
  const stored = await getSetting<string>(db, 'webhook_secret');
  if (typeof stored === 'string' && stored.startsWith('whsec_')) return { secret: stored, generated: false };
  const fresh = generateWebhookSecret();
  await insertSettingIfAbsent(db, 'webhook_secret', fresh);
  const winner = await getSetting<string>(db, 'webhook_secret');
  return { secret: winner ?? fresh, generated: winner === fresh };
}
