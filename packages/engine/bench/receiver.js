/**
 * The benches' webhook receiver, run on a worker thread of the bench process: it answers every
 * request with 204 on 127.0.0.1 and reports how many requests ended and, once told to, each
 * event's commit-to-send lag (this clock minus the envelope's `createdAt`, ms). On its own
 * thread, as a receiver elsewhere would be, it shares no event loop with the worker whose
 * deliveries it counts, nor with the load generator. The bench starts it with
 * {@link startReceiver}; this same file is the thread's script.
 */
import { createServer } from 'node:http';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

/**
 * @typedef {object} Receiver
 * @property {string} url where webhooks go
 * @property {() => void} measureLag from now on, lags are measured and reported
 * @property {() => Promise<void>} close
 */

/**
 * Starts the receiver thread; `onReport` is called at most once per turn of its loop with the
 * requests that ended since the last report and their lags (while measured).
 * @param {(received: number, lags: number[]) => void} onReport
 * @returns {Promise<Receiver>}
 */
export async function startReceiver(onReport) {
  const thread = new Worker(new URL(import.meta.url));
  /** @type {number} */
  const port = await new Promise((resolve, reject) => {
    thread.once('message', (/** @type {{ port: number }} */ m) => resolve(m.port));
    thread.once('error', reject);
  });
  thread.on('message', (/** @type {{ received?: number, lags?: number[] }} */ m) => {
    if (m.received !== undefined) onReport(m.received, m.lags ?? []);
  });
  return {
    url: `http://127.0.0.1:${port}/hook`,
    measureLag: () => thread.postMessage('lag'),
    close: async () => {
      thread.postMessage('close');
      await thread.terminate();
    },
  };
}

if (!isMainThread) {
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
}
