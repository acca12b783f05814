import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { TemplateError } from '../actions/template.js';
import type { RenderJob } from './render-worker.js';

/** Runs render jobs on worker threads, off the HTTP event loop. */
export interface RenderPool {
  run<T>(job: RenderJob): Promise<T>;
  close(): Promise<void>;
}

/** Options of the render pool. */
export interface RenderPoolOptions {
  /** Worker threads. @default 1 */
  size?: number;
  /**
   * A job that has not answered after this long is abandoned and its thread replaced; the
   * per-template and per-change limits end any render long before it.
   * @default 30000
   */
  stallMs?: number;
}

/** The compiled worker script next to this module (under `dist/` when running from sources in tests). */
function workerScript(): string | undefined {
  const here = fileURLToPath(import.meta.url);
  const candidates = [
    here.replace(/render-pool\.(ts|js)$/, 'render-worker.js'),
    here.replace(/\/src\/(.*)render-pool\.ts$/, '/dist/$1render-worker.js'),
  ];
  return candidates.find((c) => c.endsWith('.js') && existsSync(c));
}

interface Slot {
  worker: Worker;
  busy: number;
}

/**
 * Creates a pool of render threads, or undefined when the compiled worker script is not there
 * (then rendering stays in the calling thread, still bounded by the template limits).
 */
export function createRenderPool(opts: RenderPoolOptions = {}): RenderPool | undefined {
  const script = workerScript();
  if (!script) return undefined;
  const size = Math.max(1, opts.size ?? 1);
  const stallMs = opts.stallMs ?? 30_000;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; slot: Slot }>();
  let nextId = 1;
  let closed = false;

  function spawn(): Slot {
    const slot: Slot = { worker: new Worker(script as string), busy: 0 };
    slot.worker.unref();
    slot.worker.on('message', (msg: { id: number; ok: boolean; value?: unknown; error?: { name: string; message: string } }) => {
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      slot.busy--;
      if (msg.ok) p.resolve(msg.value);
      else {
        const e = msg.error ?? { name: 'Error', message: 'render failed' };
        p.reject(e.name === 'TemplateError' ? new TemplateError(e.message) : Object.assign(new Error(e.message), { name: e.name }));
      }
    });
    slot.worker.on('error', (err) => fail(slot, err));
    slot.worker.on('exit', () => fail(slot, new Error('render thread exited')));
    return slot;
  }

  const slots: Slot[] = Array.from({ length: size }, spawn);

  function fail(slot: Slot, err: Error): void {
    for (const [id, p] of pending) {
      if (p.slot !== slot) continue;
      pending.delete(id);
      p.reject(err);
    }
    const i = slots.indexOf(slot);
    if (i >= 0 && !closed) slots[i] = spawn();
  }

  return {
    run<T>(job: RenderJob): Promise<T> {
      if (closed) return Promise.reject(new Error('render pool closed'));
      const slot = slots.reduce((a, b) => (b.busy < a.busy ? b : a));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          if (!pending.has(id)) return;
          // A thread that does not answer is stuck: replace it rather than wait for it.
          void slot.worker.terminate();
          fail(slot, new TemplateError(`rendering did not finish within ${stallMs} ms`));
        }, stallMs);
        timer.unref();
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
          slot,
        });
        slot.busy++;
        slot.worker.postMessage({ id, job });
      });
    },
    async close() {
      closed = true;
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
