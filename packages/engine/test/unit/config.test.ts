import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

/** The problems loadConfig reports for `env`, or [] when it accepts it. */
function problems(env: Record<string, string>): string[] {
  try {
    loadConfig({ LOG_LEVEL: 'silent', ...env }, '/nonexistent');
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

describe('ORDERFLOW_MAIL_FROM', () => {
  it.each([
    'Orderflow <orderflow@localhost>',
    'shop@example.com',
    '<shop@example.com>',
    '"Shop, Inc." <shop@example.com>',
    'Zoë Müller <zoe@bücher.example>',
  ])('accepts one address, with or without a display name: %s', (from) => {
    expect(problems({ ORDERFLOW_MAIL_FROM: from })).toEqual([]);
    expect(loadConfig({ ORDERFLOW_MAIL_FROM: from }, '/nonexistent').mailFrom).toBe(from);
  });

  it.each([
    'not an address',
    'Shop <not an address>',
    'shop@',
    '@example.com',
    'a@example.com, b@example.com',
    'Team: a@example.com;',
    'Shop <shop@example.com>\r\nBcc: x@example.com',
  ])('refuses, naming the variable: %s', (from) => {
    const found = problems({ ORDERFLOW_MAIL_FROM: from });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^ORDERFLOW_MAIL_FROM: /);
  });
});
