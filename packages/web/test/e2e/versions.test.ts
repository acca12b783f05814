/**
 * Versions and migration through the UI, in Chromium: publish a version that
 * removes a state, open the old version from the history, migrate its orders
 * after reading the dry run, and test a draft rule against an order.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminApi, launchBrowser, missingPrerequisite, PARCELS, type Server, screenshot, signIn, startServer } from './harness.js';

const missing = missingPrerequisite();

interface OrderDto {
  id: string;
  state: string;
  version: number;
  workflowVersion: number;
  data: Record<string, unknown>;
}
interface HistoryDto {
  type: string;
  from?: string;
  to?: string;
  timers?: { kind: string; fate: string; dueAt: string; newDueAt?: string; why?: string }[];
}

describe.skipIf(missing !== null)('versions and migration in the UI', { timeout: 240_000 }, () => {
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

  async function newPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 1600, height: 1100 } });
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('dialog', (d) => void d.accept());
    return page;
  }

  async function orderIn(path: string[]): Promise<OrderDto> {
    let order = (await api<{ order: OrderDto }>('POST', '/orders', { workflow: 'parcels', data: { customer: { name: 'Parcel Buyer' } } }))
      .order;
    for (const to of path) order = (await api<{ order: OrderDto }>('POST', `/orders/${order.id}/transitions`, { to })).order;
    return order;
  }

  it('publishes v2 without a state, opens v1 from the history, migrates v1 orders after the dry run, and tests a draft rule', async () => {
    await api('POST', '/workflows?publish=true', PARCELS);
    const packed = [await orderIn(['packing']), await orderIn(['packing'])];
    const placed = await orderIn([]);

    const page = await newPage();
    await signIn(page, server.baseUrl, '/workflows/parcels');

    // 1. The designer removes "Packing" on the canvas and publishes v2, reading the diff and the impact first.
    await page.getByTestId('state-node-packing').click();
    await page.getByTestId('delete-state').click();
    // Packing holds live orders: the builder asks first.
    await page.getByRole('dialog', { name: 'Delete Packing?' }).getByRole('button', { name: 'Delete the state' }).click();
    await page.getByTestId('save-draft').click();
    await expect
      .poll(async () => (await api<{ draft: { states: { key: string }[] } | null }>('GET', '/workflows/parcels')).draft?.states.length)
      .toBe(5);
    await page.getByTestId('publish').click();
    await page.getByTestId('publish-diff').waitFor();
    expect(await page.getByTestId('publish-diff').textContent()).toContain('Packing');
    await page.getByTestId('impact-v1').waitFor();
    expect(await page.getByTestId('impact-v1').textContent()).toMatch(/2\s*order\(s\) in packing, which the draft removes/);
    await screenshot(page, 'v01-publish-v2-impact');
    await page.getByTestId('publish-confirm').click();
    await expect.poll(async () => (await api<{ publishedVersion: number }>('GET', '/workflows/parcels')).publishedVersion).toBe(2);

    // 2. The history lists both versions; v1 opens read-only on the canvas, and compares with the current version.
    await page.goto(`${server.baseUrl}/workflows/parcels/versions`);
    await page.getByTestId('version-row-1').waitFor();
    expect(await page.getByTestId('version-row-2').textContent()).toContain('current');
    expect(await page.getByTestId('version-row-1').textContent()).toMatch(/3\s*of 3/);
    await screenshot(page, 'v02-version-history');
    await page.getByTestId('open-version-1').click();
    await page.getByTestId('version-canvas').getByTestId('state-node-packing').waitFor();
    await page.getByTestId('compare-version-1').click();
    await page.getByTestId('version-diff').waitFor();
    expect(await page.getByTestId('version-diff').textContent()).toMatch(/Packing.*removed/);
    await screenshot(page, 'v03-version-1-read-only');

    // 3. The board shows each order's version and offers the migration.
    await page.goto(`${server.baseUrl}/board?workflow=parcels`);
    await page.getByTestId(`board-card-${placed.id}`).waitFor();
    expect(await page.getByTestId(`board-card-${placed.id}`).getByTestId('card-version').textContent()).toBe('v1');
    await page.getByTestId('board-migrate').waitFor();
    await screenshot(page, 'v04-board-versions');
    // A v1 order dragged where v1 has no edge: the refusal names the version the order runs on, with the migration at hand.
    await page.dragAndDrop(`[data-testid="board-card-${placed.id}"]`, '[data-testid="board-column-held"]');
    await page.getByTestId('board-error').waitFor();
    expect(await page.getByTestId('board-error').textContent()).toMatch(/runs on version 1; this board shows version 2/);
    await page.getByTestId('board-error-migrate').waitFor();
    await screenshot(page, 'v04b-board-refused-across-versions');
    expect((await api<OrderDto>('GET', `/orders/${placed.id}`)).state).toBe('placed');
    await page.getByTestId('board-migrate').click();

    // 4. Migrate: map the removed state, keep the default policy, read the dry run, then run it.
    await page.getByTestId('migrate-page').waitFor();
    await expect.poll(() => page.getByTestId('migrate-selection').textContent()).toContain('3 order(s) on version 1');
    await page.getByTestId('map-packing').selectOption('shipping');
    await page.getByTestId('policy-recompute').check();
    await page.getByTestId('migrate-dry-run').click();
    await page.getByTestId('migrate-plan-table').waitFor();
    const plan = (await page.getByTestId(`migrate-row-${packed[0]?.id}`).textContent()) ?? '';
    expect(plan).toContain('packing → Shipping');
    expect(plan).toMatch(/timeout: re-timed/);
    expect(await page.getByTestId(`migrate-row-${placed.id}`).textContent()).toContain('stays in Placed');
    await screenshot(page, 'v05-migrate-dry-run');
    // The dry run stored nothing.
    expect((await api<OrderDto>('GET', `/orders/${packed[0]?.id}`)).workflowVersion).toBe(1);
    await page.getByTestId('migrate-run').click();
    await expect.poll(() => page.getByTestId('migrate-result').textContent()).toContain('3 of 3 order(s) migrated to version 2');
    await screenshot(page, 'v06-migrate-result');
    for (const o of [...packed, placed]) expect((await api<OrderDto>('GET', `/orders/${o.id}`)).workflowVersion).toBe(2);
    const history = (await api<{ items: HistoryDto[] }>('GET', `/orders/${packed[0]?.id}/history`)).items;
    expect(history.at(-1)).toMatchObject({
      type: 'migrated',
      from: 'packing',
      to: 'shipping',
      timers: [{ kind: 'timeout', fate: 'retimed' }],
    });
    // The order's history shows the migration with each timer's fate.
    await page.goto(`${server.baseUrl}/orders/${packed[0]?.id}`);
    await page.locator('.timeline-item.t-migrated').waitFor();
    await expect
      .poll(() => page.locator('.timeline-item.t-migrated').textContent())
      .toMatch(/Migrated: packing → Shipping.*timeout: re-timed/);
    expect(await page.getByTestId('order-version').textContent()).toBe('v2');
    await screenshot(page, 'v06b-order-history-migrated');

    // 5. A draft rule is tested against a real order, unsaved and unpublished; nothing is stored.
    await page.goto(`${server.baseUrl}/workflows/parcels/rules`);
    await page.getByTestId('new-rule').click();
    const scan = {
      id: 'scan',
      name: 'Note scans',
      trigger: 'event_received',
      event: 'parcel.scanned',
      actions: [{ type: 'set_data', set: { scannedAt: '{{ event.data.hub }}' } }],
    };
    await page.getByTestId('rule-json').fill(JSON.stringify(scan, null, 2));
    await expect.poll(() => page.getByTestId('rule-name').inputValue()).toBe('Note scans');
    await page.getByTestId('rule-test').click();
    await page.getByTestId('rule-test-order').selectOption(packed[1]?.id ?? '');
    await page.getByTestId('rule-test-kind').selectOption('event');
    await page.getByTestId('rule-test-event').fill('parcel.scanned');
    await page.getByTestId('rule-test-event-data').fill('{"hub": "Leipzig"}');
    await page.getByTestId('rule-test-run').click();
    await page.getByTestId('rule-run-scan').waitFor();
    expect(await page.getByTestId('rule-run-scan').textContent()).toContain('matched');
    expect(await page.getByTestId('rule-test-order-after').textContent()).toContain('"scannedAt": "Leipzig"');
    await screenshot(page, 'v07-draft-rule-test');
    expect((await api<OrderDto>('GET', `/orders/${packed[1]?.id}`)).data.scannedAt).toBeUndefined();

    // 6. Publishing rules shows the diff and the impact first, and publishes only when confirmed.
    await page.getByTestId('publish-rules').click();
    await page.getByTestId('publish-diff').waitFor();
    expect(await page.getByTestId('publish-diff').textContent()).toContain('scan');
    await page.getByTestId('impact-v2').waitFor();
    await screenshot(page, 'v08-rules-publish-confirm');
    expect((await api<{ publishedVersion: number }>('GET', '/workflows/parcels')).publishedVersion).toBe(2);
    await page.getByTestId('publish-confirm').click();
    await expect.poll(async () => (await api<{ publishedVersion: number }>('GET', '/workflows/parcels')).publishedVersion).toBe(3);

    expect(pageErrors).toEqual([]);
    await page.context().close();
  });
});
