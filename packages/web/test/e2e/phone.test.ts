/**
 * Every page at phone size (390×844) in Chromium, with the demo data and a
 * little more (a second version, an endpoint, a lost parcel): no page scrolls
 * sideways as a whole, and no table scrolls sideways inside itself; a table
 * that is too wide for the phone stacks its cells or drops secondary columns.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, adminApi, launchBrowser, missingPrerequisite, PARCELS, type Server, screenshot, startServer } from './harness.js';

const missing = missingPrerequisite();

const PHONE = { width: 390, height: 844 };

interface OrderDto {
  id: string;
}

/**
 * What scrolls sideways on the page: the page itself (named by its widest
 * culprits), and every visible table, or box around one, whose content is
 * wider than its box or reaches past the window's right edge.
 */
async function sidewaysOverflow(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const found: string[] = [];
    const vw = window.innerWidth;
    const name = (el: Element) =>
      `${el.tagName.toLowerCase()}${el.getAttribute('data-testid') ? `[${el.getAttribute('data-testid')}]` : ''}${[...el.classList].map((c) => `.${c}`).join('')}`;
    const page = document.documentElement.scrollWidth;
    if (page > vw) {
      const culprits: string[] = [];
      for (const el of document.querySelectorAll('body *')) {
        const r = el.getBoundingClientRect();
        const parent = el.parentElement?.getBoundingClientRect();
        if (r.right > vw + 1 && parent && parent.right <= vw + 1) culprits.push(`${name(el)} (${Math.round(r.right)})`);
      }
      found.push(`page is ${page} px wide in a ${vw} px window: ${culprits.slice(0, 5).join(', ')}`);
    }
    for (const table of document.querySelectorAll('table')) {
      if (table.getClientRects().length === 0) continue;
      const r = table.getBoundingClientRect();
      if (r.right > vw + 1) found.push(`${name(table)} reaches ${Math.round(r.right)} px`);
      for (let el: Element | null = table; el && el !== document.body; el = el.parentElement) {
        if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible')
          found.push(`${name(el)} scrolls sideways: ${el.scrollWidth} px in ${el.clientWidth} px`);
      }
    }
    return [...new Set(found)];
  });
}

describe.skipIf(missing !== null)('every page at phone size', { timeout: 180_000 }, () => {
  let server: Server;
  let browser: Browser;
  let api: ReturnType<typeof adminApi>;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    server = await startServer();
    api = adminApi(server.baseUrl);
    browser = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('fits every page into 390 px without sideways scrolling, tables included', async () => {
    // The demo orders, plus: a lost parcel (a critical notification and a replacement order), an endpoint,
    // and a second workflow with two versions and orders left on the first (versions and migration).
    const lost = (await api<{ order: OrderDto }>('POST', '/orders', { workflow: 'orders', externalRef: 'PHONE-1', data: {} })).order;
    for (const to of ['awaiting_payment', 'packing', 'shipping', 'lost_in_transit'])
      await api('POST', `/orders/${lost.id}/transitions`, { to });
    await api('POST', '/endpoints', { key: 'warehouse', url: 'http://127.0.0.1:9/warehouse' });
    await api('POST', '/workflows?publish=true', PARCELS);
    for (let i = 0; i < 2; i++) {
      const { order } = await api<{ order: OrderDto }>('POST', '/orders', { workflow: 'parcels', externalRef: `PC-${i}`, data: {} });
      await api('POST', `/orders/${order.id}/transitions`, { to: 'packing' });
    }
    await api('PUT', '/workflows/parcels/draft', {
      ...PARCELS,
      states: PARCELS.states.filter((s) => s.key !== 'packing'),
      transitions: PARCELS.transitions.filter((t) => t.from !== 'packing' && t.to !== 'packing'),
    });
    await api('POST', '/workflows/parcels/publish', {});
    // A draft on top of the published version: the versions table shows its row too.
    await api('PUT', '/workflows/parcels/draft', PARCELS);

    /** Pages reached by what a person does there, beyond their address. */
    const actions: Record<string, (page: Page) => Promise<void>> = {
      'builder-table': async (page) => {
        await page.getByTestId('view-table').click();
        await page.getByTestId('table-state-placed').waitFor();
      },
      'version-open': async (page) => {
        await page.getByTestId('open-version-1').click();
        await page.getByTestId('version-canvas').getByTestId('state-node-packing').waitFor();
        await page.getByTestId('compare-version-1').click();
        await page.getByTestId('version-diff').waitFor();
      },
      'migrate-dry-run': async (page) => {
        await expect.poll(() => page.getByTestId('migrate-selection').textContent()).toContain('2 order(s) on version 1');
        await page.getByTestId('map-packing').selectOption('shipping');
        await page.getByTestId('migrate-dry-run').click();
        await page.getByTestId('migrate-plan-table').waitFor();
      },
    };
    const pages: [string, string, string][] = [
      ['dashboard', '/', 'dashboard'],
      ['workflows', '/workflows', 'workflow-row-orders'],
      ['builder', '/workflows/orders', 'builder-canvas'],
      ['builder-table', '/workflows/parcels', 'builder-canvas'],
      ['rules', '/workflows/orders/rules', 'rule-form'],
      ['versions', '/workflows/parcels/versions', 'version-row-1'],
      ['version-open', '/workflows/parcels/versions', 'version-row-1'],
      ['migrate', '/workflows/parcels/migrate?from=1', 'migrate-page'],
      ['migrate-dry-run', '/workflows/parcels/migrate?from=1', 'migrate-page'],
      ['board', '/board?workflow=orders', 'board'],
      ['orders', '/orders', 'orders-table'],
      ['order', `/orders/${lost.id}`, 'order-timeline'],
      ['deliveries', '/deliveries', 'deliveries-table'],
      ['endpoints', '/endpoints', 'endpoints-table'],
      ['templates', '/templates', 'template-preview'],
      ['mailbox', '/mailbox', 'mailbox-refresh'],
      ['notifications', '/notifications', 'live-indicator'],
    ];

    const context = await browser.newContext({ viewport: PHONE });
    const page = await context.newPage();
    page.setDefaultTimeout(10_000);
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('dialog', (d) => void d.accept());
    const wide: string[] = [];

    await page.goto(server.baseUrl);
    await page.getByTestId('signin-token').waitFor();
    for (const problem of await sidewaysOverflow(page)) wide.push(`sign-in: ${problem}`);
    await screenshot(page, 'phone-sign-in');
    await page.getByTestId('signin-token').fill(ADMIN_TOKEN);
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('session-role').waitFor({ state: 'attached' });

    for (const [name, path, ready] of pages) {
      await page.goto(`${server.baseUrl}${path}`);
      await page.getByTestId(ready).first().waitFor({ state: 'attached' });
      await page
        .getByTestId('loading')
        .first()
        .waitFor({ state: 'detached', timeout: 5000 })
        .catch(() => undefined);
      await actions[name]?.(page);
      await page.waitForTimeout(200);
      for (const problem of await sidewaysOverflow(page)) wide.push(`${name}: ${problem}`);
      await screenshot(page, `phone-${name}`);
    }
    await context.close();

    expect(wide).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
