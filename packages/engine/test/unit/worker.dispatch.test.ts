import { describe, expect, it } from 'vitest';
import { destinationOf } from '../../src/store/destination.js';
import { createDispatcher, dispatch } from '../../src/worker/deliveries.js';

/** Runs `dispatch` over items named `key:n`, each held until the test lets it finish; records the peaks. */
function harness(items: string[], limit: number, perKey: number) {
  const started: string[] = [];
  const gates = new Map<string, () => void>();
  const running = new Map<string, number>();
  let active = 0;
  let peak = 0;
  const peakPerKey = new Map<string, number>();
  const keyOf = (s: string) => s.split(':')[0] as string;
  const done = dispatch(items, keyOf, limit, perKey, async (item) => {
    const k = keyOf(item);
    started.push(item);
    active++;
    running.set(k, (running.get(k) ?? 0) + 1);
    peak = Math.max(peak, active);
    peakPerKey.set(k, Math.max(peakPerKey.get(k) ?? 0, running.get(k) ?? 0));
    await new Promise<void>((r) => gates.set(item, r));
    active--;
    running.set(k, (running.get(k) ?? 1) - 1);
  });
  const tick = () => new Promise<void>((r) => setImmediate(r));
  return {
    started,
    done,
    peak: () => peak,
    peakPerKey,
    async finish(item: string) {
      gates.get(item)?.();
      await tick();
    },
    async finishAll() {
      while (started.length > 0 && [...gates.keys()].length > 0) {
        for (const [item, open] of [...gates]) {
          gates.delete(item);
          open();
        }
        await tick();
      }
      await done;
    },
    tick,
  };
}

describe('dispatch', () => {
  it('keeps a busy key to its share and lets other keys through meanwhile', async () => {
    const h = harness(['a:1', 'a:2', 'a:3', 'a:4', 'a:5', 'b:1', 'b:2'], 4, 2);
    await h.tick();
    // a takes 2 slots, b the other 2, although a's items came first.
    expect(h.started).toEqual(['a:1', 'a:2', 'b:1', 'b:2']);
    await h.finish('b:1');
    // A slot is free, but a is at its bound: nothing else starts.
    expect(h.started).toHaveLength(4);
    await h.finish('a:1');
    expect(h.started).toEqual(['a:1', 'a:2', 'b:1', 'b:2', 'a:3']);
    await h.finishAll();
    expect(h.started).toHaveLength(7);
    expect(h.peak()).toBe(4);
    expect(h.peakPerKey.get('a')).toBe(2);
  });

  it('stops starting items after the first error and rethrows it once the running ones are done', async () => {
    const seen: string[] = [];
    const run = dispatch(
      ['x:1', 'x:2', 'x:3'],
      () => 'x',
      1,
      1,
      async (item) => {
        seen.push(item);
        if (item === 'x:1') throw new Error('boom');
      },
    );
    await expect(run).rejects.toThrow('boom');
    expect(seen).toEqual(['x:1']);
  });

  it('settles at once with nothing to do', async () => {
    await expect(
      dispatch(
        [],
        () => 'k',
        2,
        1,
        async () => undefined,
      ),
    ).resolves.toBeUndefined();
  });
});

describe('createDispatcher', () => {
  it('starts items pushed while others run, and after drop() starts nothing more', async () => {
    const started: string[] = [];
    const gates = new Map<string, () => void>();
    const d = createDispatcher(
      (s: string) => s.split(':')[0] as string,
      2,
      1,
      async (item) => {
        started.push(item);
        await new Promise<void>((r) => gates.set(item, r));
      },
    );
    const tick = () => new Promise<void>((r) => setImmediate(r));
    d.push(['a:1', 'a:2']);
    await tick();
    expect(started).toEqual(['a:1']);
    // Pushed later, another key goes ahead of the waiting a:2.
    d.push(['b:1', 'b:2']);
    await tick();
    expect(started).toEqual(['a:1', 'b:1']);
    expect(d.drop()).toEqual(['a:2', 'b:2']);
    let idle = false;
    void d.idle().then(() => {
      idle = true;
    });
    gates.get('a:1')?.();
    await tick();
    expect(idle).toBe(false);
    gates.get('b:1')?.();
    await tick();
    expect(idle).toBe(true);
    expect(started).toEqual(['a:1', 'b:1']);
  });
});

describe('destinationOf', () => {
  it('names the endpoint, the URL origin, the mail server or the channel', () => {
    expect(destinationOf({ type: 'webhook', endpoint: 'crm' })).toBe('endpoint:crm');
    expect(destinationOf({ type: 'webhook', url: 'https://hooks.example.com:8443/a?b=1' })).toBe('url:https://hooks.example.com:8443');
    expect(destinationOf({ type: 'webhook', url: 'https://hooks.example.com/other' })).toBe('url:https://hooks.example.com');
    expect(destinationOf({ type: 'send_email', template: 't', to: 'customer' })).toBe('email');
    expect(destinationOf({ type: 'notify', channel: 'admins', message: 'm' })).toBe('notify');
  });
});
