// TEST-ONLY entry for the crash harness's negative control: `serve` on a store that writes
// outbox rows in a second transaction 40 ms after the order's transaction commits, so a
// SIGKILL in between loses them. Production code has no such switch; the fault lives here.
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../../dist/config.js';
import { createOrderflow } from '../../dist/server.js';
import { openStore } from '../../dist/store/open.js';

function outboxOutsideTransaction(store) {
  const deferring = (tx, pending) =>
    new Proxy(tx, {
      get(target, prop) {
        if (prop === 'insertInto') {
          return (table) =>
            table === 'deliveries'
              ? { values: (rows) => ({ execute: async () => pending.push(...(Array.isArray(rows) ? rows : [rows])) }) }
              : target.insertInto(table);
        }
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
  return {
    ...store,
    async transaction(fn) {
      const pending = [];
      const result = await store.transaction((tx) => fn(deferring(tx, pending)));
      if (pending.length > 0) {
        await sleep(40);
        await store.transaction((tx) => tx.insertInto('deliveries').values(pending).execute());
      }
      return result;
    },
  };
}

const config = loadConfig();
const of = await createOrderflow(config, { store: outboxOutsideTransaction(await openStore(config.databaseUrl)) });
await of.listen();
console.log('faulty server listening');
