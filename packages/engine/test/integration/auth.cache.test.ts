import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTokenAuth, hashToken } from '../../src/http/auth.js';
import { createSimulatedClock } from '../../src/runtime/clock.js';
import type { Store } from '../../src/store/store.js';
import { insertToken } from '../../src/store/tokens.js';
import { DIALECTS, freshStore, openStoreAt } from '../dialects.js';

/** Counts the queries that select from `tokens`, and holds their results back while `hold` is set. */
class TokenReads implements KyselyPlugin {
  n = 0;
  hold: Promise<void> | undefined;
  private readonly ids = new WeakSet<object>();
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    const node = args.node;
    if (node.kind === 'SelectQueryNode' && JSON.stringify(node.from).includes('"tokens"')) {
      this.n++;
      this.ids.add(args.queryId);
    }
    return node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    if (this.ids.has(args.queryId)) await this.hold;
    return args.result;
  }
}

for (const dialect of DIALECTS) {
  describe(`token look-up (${dialect})`, () => {
    let store: Store;
    let cleanup: () => Promise<void>;
    let url: string;
    const clock = createSimulatedClock('2026-03-01T10:00:00.000Z');
    beforeEach(async () => {
      ({ store, cleanup, url } = await freshStore(dialect));
      await insertToken(store.db, {
        id: 'tok_a',
        hash: hashToken('secret-a'),
        role: 'operator',
        name: null,
        now: clock.now().toISOString(),
      });
    });
    afterEach(async () => {
      await cleanup();
    });

    it('reads a token once for requests that miss the cache together', async () => {
      const reads = new TokenReads();
      const counted: Store = { ...store, db: store.db.withPlugin(reads) };
      const auth = createTokenAuth({ store: counted, clock });
      const answers = await Promise.all(Array.from({ length: 50 }, () => auth.authenticate('secret-a', 'bearer')));
      expect(answers.every((a) => a?.tokenId === 'tok_a' && a.role === 'operator')).toBe(true);
      expect(reads.n).toBe(1);
      // Unknown tokens too: one read for all the requests that present it at once.
      const none = await Promise.all(Array.from({ length: 20 }, () => auth.authenticate('wrong', 'bearer')));
      expect(none.every((a) => a === null)).toBe(true);
      expect(reads.n).toBe(2);
    });

    it('reads again after a revocation in this process, even while an earlier read is in flight', async () => {
      const reads = new TokenReads();
      const counted: Store = { ...store, db: store.db.withPlugin(reads) };
      const auth = createTokenAuth({ store: counted, clock });
      let release = () => {};
      reads.hold = new Promise((r) => {
        release = r;
      });
      // A read of the row as it was before the revocation, its answer held back.
      const early = auth.authenticate('secret-a', 'bearer');
      await expect.poll(() => reads.n).toBe(1);
      await new Promise((r) => setTimeout(r, 50));
      // Revoked meanwhile (through another connection: this one is held by the read).
      const other = openStoreAt(url);
      try {
        await other.db.updateTable('tokens').set({ revoked_at: clock.now().toISOString() }).where('id', '=', 'tok_a').execute();
      } finally {
        await other.close();
      }
      auth.forget('tok_a');
      const later = auth.authenticate('secret-a', 'bearer');
      release();
      expect(await later).toBeNull();
      await early;
      expect(await auth.authenticate('secret-a', 'bearer')).toBeNull();
    });
  });
}
