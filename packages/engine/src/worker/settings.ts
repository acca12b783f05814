import { randomBytes } from 'node:crypto';
import type { AutomationState } from '@orderflow/core';
import type { Kysely } from 'kysely';
import * as repo from '../store/repo.js';
import type { DB } from '../store/schema.js';

/** The automation kill switch (settings key `automation`), as the wire contract declares it. */
export type { AutomationState };

/** Reads the automation switch. */
export async function getAutomation(db: Kysely<DB>): Promise<AutomationState> {
  const s = await repo.getSetting<Partial<AutomationState>>(db, 'automation');
  return { paused: s?.paused === true, rules: Array.isArray(s?.rules) ? s.rules.filter((r) => typeof r === 'string') : [] };
}

/** Pauses automation globally, or one rule. */
export async function pauseAutomation(db: Kysely<DB>, rule?: string): Promise<AutomationState> {
  const s = await getAutomation(db);
  const next: AutomationState =
    rule === undefined ? { ...s, paused: true } : { ...s, rules: s.rules.includes(rule) ? s.rules : [...s.rules, rule] };
  await repo.putSetting(db, 'automation', next);
  return next;
}

/** Resumes automation globally, or one rule. */
export async function resumeAutomation(db: Kysely<DB>, rule?: string): Promise<AutomationState> {
  const s = await getAutomation(db);
  const next: AutomationState = rule === undefined ? { ...s, paused: false } : { ...s, rules: s.rules.filter((r) => r !== rule) };
  await repo.putSetting(db, 'automation', next);
  return next;
}

/** A fresh Standard Webhooks secret: `whsec_` and 32 random bytes in base64. */
export const generateWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`;

/**
 * The global webhook signing secret: ORDERFLOW_WEBHOOK_SECRET, else the one stored in
 * settings, generated and stored on first use. Concurrent first uses agree on one value.
 */
export async function ensureWebhookSecret(db: Kysely<DB>, configured: string | null): Promise<{ secret: string; generated: boolean }> {
  if (configured) return { secret: configured, generated: false };
  const stored = await repo.getSetting<string>(db, 'webhook_secret');
  if (typeof stored === 'string' && stored.startsWith('whsec_')) return { secret: stored, generated: false };
  const fresh = generateWebhookSecret();
  await db
    .insertInto('settings')
    .values({ key: 'webhook_secret', value_json: JSON.stringify(fresh) })
    .onConflict((oc) => oc.column('key').doNothing())
    .execute();
  const winner = await repo.getSetting<string>(db, 'webhook_secret');
  return { secret: winner ?? fresh, generated: winner === fresh };
}
