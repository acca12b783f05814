import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '../dialects.js';
import { createTestOrderflow, json, minimalDefinition, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
afterEach(async () => {
  await t?.close();
});

for (const dialect of DIALECTS) {
  describe(`creating resources (${dialect})`, () => {
    it('PUT /templates/:key and PUT /endpoints/:key answer 201 with Location on create and 200 on replace', async () => {
      t = await createTestOrderflow({ dialect });
      const put = (url: string, body: unknown) => t.request('designer', { method: 'PUT', url, body });

      const template = { subject: 'Hi', html: '<p>Hi</p>' };
      const created = await put('/api/v1/templates/welcome_mail', template);
      expect(created.statusCode, created.body).toBe(201);
      expect(created.headers.location).toBe('/api/v1/templates/welcome_mail');
      expect(json(created)).toMatchObject({ key: 'welcome_mail', subject: 'Hi' });
      const replaced = await put('/api/v1/templates/welcome_mail', { ...template, subject: 'Hello' });
      expect(replaced.statusCode, replaced.body).toBe(200);
      expect(replaced.headers.location).toBeUndefined();
      expect(json(replaced).subject).toBe('Hello');

      const endpoint = { url: 'https://erp.example.com/hooks' };
      const made = await put('/api/v1/endpoints/erp', endpoint);
      expect(made.statusCode, made.body).toBe(201);
      expect(made.headers.location).toBe('/api/v1/endpoints/erp');
      const again = await put('/api/v1/endpoints/erp', endpoint);
      expect(again.statusCode, again.body).toBe(200);
    });

    it('POST /workflows answers 201 with Location', async () => {
      t = await createTestOrderflow({ dialect, demo: false });
      const res = await t.request('designer', { method: 'POST', url: '/api/v1/workflows', body: minimalDefinition('repairs') });
      expect(res.statusCode, res.body).toBe(201);
      expect(res.headers.location).toBe('/api/v1/workflows/repairs');
      const doc = json(await t.request('anonymous', { method: 'GET', url: '/docs/openapi.json' }));
      expect(doc.paths['/api/v1/workflows'].post.responses['201'].headers.Location).toBeDefined();
      expect(doc.paths['/api/v1/templates/{key}'].put.responses['201'].headers.Location).toBeDefined();
    });
  });
}
