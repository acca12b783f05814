// TEST-ONLY entry for the crash harness's negative controls: `serve` on a store with one
// deliberate fault, chosen by FAULTY_SERVE_FAULT. Production code has no such switch; the faults
// live here, wrapped around the real store.
//   outbox-after-commit: outbox rows are written in a second transaction 40 ms after the order's
//     transaction commits, so a SIGKILL in between loses them.
//   answer-before-commit: each change is answered as soon as its own statements ran, 150 ms before
//     the shared COMMIT, so a SIGKILL in between loses acknowledged changes.
import { setTimeout as sleep } from 'node:timers/promises';
import { isCompilable } from 'kysely';
import { loadConfig } from '../../dist/config.js';
import { createOrderflow } from '../../dist/server.js';
import { openStore } from '../../dist/store/open.js';

/**
 * @typedef {import('../../dist/store/store.js').Store} Store
 * @typedef {import('kysely').Kysely<import('../../dist/store/schema.js').DB>} Tx
 * @typedef {import('kysely').CompiledQuery} CompiledQuery
 */

/**
 * True for the statement that enqueues deliveries (the hot path writes it as plain SQL).
 * @param {CompiledQuery} query
 */
const isOutboxInsert = (query) => /^\s*insert\s+into\s+"?deliveries"?/i.test(query?.sql ?? '');

/**
 * @param {Store} store
 * @returns {Store}
 */
function outboxOutsideTransaction(store) {
  /**
   * `tx`, except that the outbox inserts it is given are kept in `pending` instead of run.
   * @param {Tx} tx
   * @param {CompiledQuery[]} pending
   */
  const deferring = (tx, pending) =>
    new Proxy(tx, {
      get(target, prop) {
        if (prop === 'executeQuery') {
          /**
           * Kysely's executeQuery, which takes a compiled query or one to compile.
           * @param {CompiledQuery | import('kysely').Compilable} query
           * @param {[queryId?: import('kysely').QueryId]} rest
           */
          return async (query, ...rest) => {
            const compiled = isCompilable(query) ? query.compile() : query;
            if (!isOutboxInsert(compiled)) return target.executeQuery(compiled, ...rest);
            pending.push(compiled);
            return { rows: [], numAffectedRows: 0n };
          };
        }
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  return {
    ...store,
    /**
     * @template T
     * @param {(tx: Tx) => Promise<T>} fn
     * @returns {Promise<T>}
     */
    async transaction(fn) {
      /** @type {CompiledQuery[]} */
      const pending = [];
      const result = await store.transaction((tx) => fn(deferring(tx, pending)));
      if (pending.length > 0) {
        await sleep(40);
        await store.transaction(async (tx) => {
          for (const q of pending) await tx.executeQuery(q);
        });
      }
      return result;
    },
  };
}

/**
 * @param {Store} store
 * @returns {Store}
 */
function answerBeforeCommit(store) {
  return {
    ...store,
    /**
     * @template T
     * @param {(tx: Tx) => Promise<T>} fn
     * @returns {Promise<T>}
     */
    transaction(fn) {
      return new Promise((resolve, reject) => {
        store
          .transaction(async (tx) => {
            const value = await fn(tx);
            resolve(value);
            // The shared COMMIT comes later; the caller has its answer already.
            await sleep(150);
            return value;
          })
          .catch(reject);
      });
    },
  };
}

/** @type {Record<string, (store: Store) => Store>} */
const faults = { 'outbox-after-commit': outboxOutsideTransaction, 'answer-before-commit': answerBeforeCommit };
const fault = faults[process.env.FAULTY_SERVE_FAULT ?? 'outbox-after-commit'];
if (!fault) throw new Error(`unknown FAULTY_SERVE_FAULT ${process.env.FAULTY_SERVE_FAULT}`);
const config = loadConfig();
const of = await createOrderflow(config, { store: fault(await openStore(config.databaseUrl)) });
await of.listen();
console.log('faulty server listening');
