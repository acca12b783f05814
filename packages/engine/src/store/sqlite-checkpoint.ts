/**
 * Runs in a worker thread next to a SQLite store: its own connection copies the WAL back into
 * the database file (PASSIVE checkpoints never block the writer), so that work and its flush
 * happen off the event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { path, everyMs } = workerData as { path: string; everyMs: number };
const db = new Database(path);
db.pragma('busy_timeout = 1000');
// The checkpoint flushes the database file before the WAL may be reused.
db.pragma('synchronous = FULL');
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or closing: the next round tries again, and the writer's own checkpoint is the backstop.
  }
}, everyMs);
parentPort?.on('message', (msg) => {
  if (msg !== 'close') return;
  clearInterval(timer);
  db.close();
  parentPort?.close();
});
