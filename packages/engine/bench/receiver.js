/**
 * The drain phase's webhook receiver, run on a worker thread of the bench process: it answers
 * every request with 204 on 127.0.0.1, and reports to the bench how many requests ended and, once
 * told to (`'lag'`), each event's commit-to-send lag (this clock minus the envelope's
 * `createdAt`, ms). On its own thread, as a receiver elsewhere would be, it shares no event loop
 * with the worker whose deliveries it counts. Messages: `{ port }` once listening, then
 * `{ received, lags }` at most once per turn of its loop; `'close'` stops it.
 */
import { createServer } from 'node:http';
import { parentPort } from 'node:worker_threads';

const port = /** @type {import('node:worker_threads').MessagePort} */ (parentPort);
let measureLag = false;
let received = 0;
/** @type {number[]} */
let lags = [];
let reporting = false;
const report = () => {
  reporting = false;
  port.postMessage({ received, lags });
  received = 0;
  lags = [];
};

const server = createServer((req, res) => {
  /** @type {Buffer[]} */
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (measureLag) {
      try {
        lags.push(Date.now() - Date.parse(JSON.parse(Buffer.concat(chunks).toString()).createdAt));
      } catch {
        // Not an event envelope; not counted.
      }
    }
    res.writeHead(204).end();
    received++;
    if (!reporting) {
      reporting = true;
      setImmediate(report);
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  port.postMessage({ port: /** @type {import('node:net').AddressInfo} */ (server.address()).port });
});
port.on('message', (msg) => {
  if (msg === 'lag') measureLag = true;
  if (msg === 'close') {
    server.closeAllConnections();
    server.close();
    port.close();
  }
});
