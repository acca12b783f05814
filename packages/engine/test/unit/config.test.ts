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

describe('ORDERFLOW_SMTP_URL pool options', () => {
  const url = 'smtp://user:secret@mail.example.com:587';

  it.each([
    '',
    '?maxConnections=1',
    '?maxConnections=1000',
    '?maxConnections=2&maxMessages=50',
    '?pool=false',
    '?pool=true&tls.rejectUnauthorized=false',
  ])('accepts %s', (query) => {
    expect(problems({ ORDERFLOW_SMTP_URL: `${url}${query}` })).toEqual([]);
    expect(loadConfig({ ORDERFLOW_SMTP_URL: `${url}${query}` }, '/nonexistent').smtpUrl).toBe(`${url}${query}`);
  });

  // These used to reach nodemailer as they were: with a pool bound such as `abc` or `-1` it never
  // opened a connection, and every email waited in the pool, unsent, with nothing said at start.
  it.each([
    ['?maxConnections=abc', 'maxConnections'],
    ['?maxConnections=-1', 'maxConnections'],
    ['?maxConnections=0', 'maxConnections'],
    ['?maxConnections=2.5', 'maxConnections'],
    ['?maxConnections=1001', 'maxConnections'],
    ['?maxConnections=', 'maxConnections'],
    ['?maxConnections=1&maxConnections=2', 'maxConnections'],
    ['?maxMessages=0', 'maxMessages'],
    ['?maxMessages=many', 'maxMessages'],
    ['?pool=no', 'pool'],
  ])('refuses %s, naming the variable and the option but not the password', (query, option) => {
    const found = problems({ ORDERFLOW_SMTP_URL: `${url}${query}` });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(new RegExp(`^ORDERFLOW_SMTP_URL: ${option} `));
    expect(found[0]).not.toContain('secret');
  });
});
