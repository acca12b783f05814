/**
 * Runs in a worker thread next to a SQLite store: its own connection copies the WAL back into
 * the database file (PASSIVE checkpoints never block the writer), so that work and its flush
 * happen off the event loop.
 *
 * SQLite starts the WAL over only when a write transaction begins after a checkpoint has copied
 * every frame. Under steady writing that never happens by itself: the writer commits again
 * between the end of a checkpoint and the start of its next transaction. The WAL then grows until
 * the writer's own checkpoint (the backstop) copies the rest on the event loop, stalling it for
 * tens of milliseconds. So once the WAL holds
 * `restartFrames` frames after a round, this thread asks the writer to pause between two batches
 * (`pause-writes`); told `writes-paused`, it copies the few frames written since, answers
 * `resume-writes`, and the writer's next transaction starts the WAL over. The event loop does
 * not wait meanwhile; only the next batch does.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { path, everyMs, restartFrames } = workerData as { path: string; everyMs: number; restartFrames: number };
const db = new Database(path);
db.pragma('busy_timeout = 1000');
// The checkpoint flushes the database file before the WAL may be reused.
db.pragma('synchronous = FULL');

interface CheckpointResult {
  busy: number;
  log: number;
  checkpointed: number;
}

function checkpoint(): CheckpointResult | null {
  try {
    return (db.pragma('wal_checkpoint(PASSIVE)') as CheckpointResult[])[0] ?? null;
  } catch {
    // Busy or closing: the next round tries again, and the writer's own checkpoint is the backstop.
    return null;
  }
}

/** A pause asked for and not answered yet: asked once at a time. */
let asked = false;
const timer = setInterval(() => {
  const r = checkpoint();
  // Even a round that copied every frame leaves the WAL as long: the writer has committed again
  // before its next transaction begins.
  if (r && !asked && r.log >= restartFrames) {
    asked = true;
    parentPort?.postMessage('pause-writes');
  }
}, everyMs);
parentPort?.on('message', (msg) => {
  if (msg === 'writes-paused') {
    // No batch writes now: this copies every frame, and the writer's next transaction restarts the WAL.
    checkpoint();
    asked = false;
    parentPort?.postMessage('resume-writes');
    return;
  }
  if (msg !== 'close') return;
  clearInterval(timer);
  db.close();
  parentPort?.close();
});
