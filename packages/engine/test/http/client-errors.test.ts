import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestOrderflow, json, type TestOrderflow } from '../helpers/orderflow.js';

let t: TestOrderflow;
afterEach(async () => {
  await t?.close();
});

/** Sends raw bytes to a listening server and reads the whole answer (the server closes after a client error). */
function rawExchange(port: number, bytes: string): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to ${JSON.stringify(bytes.slice(0, 60))}`));
    }, 5000);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body });
    });
    socket.write(bytes);
  });
}

describe('client errors raised by Node before any route runs', () => {
  it('answers problem documents with a stable code for oversized headers and malformed requests', async () => {
    t = await createTestOrderflow({ demo: false });
    await t.of.app.listen({ host: '127.0.0.1', port: 0 });
    const address = t.of.app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;

    const expectRawProblem = (res: Awaited<ReturnType<typeof rawExchange>>, status: number, code: string) => {
      expect({ status: res.status, body: res.body }).toMatchObject({ status });
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.headers.connection).toBe('close');
      expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body));
      expect(JSON.parse(res.body)).toMatchObject({ status, code, type: `urn:orderflow:problem:${code}`, title: expect.any(String) });
    };

    const longUrl = `/api/v1/orders?q=${'x'.repeat(20_000)}`;
    expectRawProblem(await rawExchange(port, `GET ${longUrl} HTTP/1.1\r\nHost: x\r\n\r\n`), 431, 'headers_too_large');
    expectRawProblem(await rawExchange(port, 'GARBAGE\r\n\r\n'), 400, 'bad_request');
    expectRawProblem(await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n'), 400, 'bad_request');
    expectRawProblem(await rawExchange(port, 'POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'), 400, 'bad_request');

    // The server still answers normally afterwards.
    const ok = await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(ok.status).toBe(200);
  });

  it('declares the new codes for every route in the OpenAPI document', async () => {
    t = await createTestOrderflow({ demo: false });
    const doc = json(await t.request('anonymous', { method: 'GET', url: '/docs/openapi.json' }));
    expect(doc.paths['/api/v1/orders'].get.responses['431'].description).toContain('headers_too_large');
    expect(doc.paths['/healthz'].get.responses['431']).toBeDefined();
  });
});
