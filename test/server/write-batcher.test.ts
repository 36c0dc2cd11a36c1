/** WriteBatcher: one write at a time; what arrives meanwhile goes in the next, within its bounds, in order. */
import { describe, expect, it } from 'vitest';
import { WriteBatcher, type Settled } from '../../src/server/store/write-batcher.js';

/** A write that the test completes by hand, recording each batch it was given. */
function manualWrites() {
  const batches: string[][] = [];
  const finish: Array<(answers: Array<Settled<string>> | Error) => void> = [];
  const write = (items: readonly string[]) =>
    new Promise<Array<Settled<string>>>((resolve, reject) => {
      batches.push([...items]);
      finish.push((answers) => (answers instanceof Error ? reject(answers) : resolve(answers)));
    });
  const allOk = (k: number) => finish[k]!(batches[k]!.map((item) => ({ ok: true, value: `wrote ${item}` })));
  return { batches, finish, write, allOk };
}

const settle = (promises: Array<Promise<string>>) => Promise.allSettled(promises);

describe('WriteBatcher', () => {
  it('writes a lone item at once, and everything that arrived during a write in the next, in arrival order', async () => {
    const w = manualWrites();
    const batcher = new WriteBatcher(w.write, { maxItems: 10, maxWeight: 1_000 }, () => 1);
    const first = batcher.submit('a');
    // The write started before submit returned: no timer waits to fill a batch.
    expect(w.batches).toEqual([['a']]);
    const rest = ['b', 'c', 'd'].map((x) => batcher.submit(x));
    expect(w.batches).toHaveLength(1);
    w.allOk(0);
    expect(await first).toBe('wrote a');
    await Promise.resolve();
    expect(w.batches).toEqual([['a'], ['b', 'c', 'd']]);
    w.allOk(1);
    expect(await Promise.all(rest)).toEqual(['wrote b', 'wrote c', 'wrote d']);
    expect(batcher.stats).toEqual({ batches: 2, items: 4, largest: 3 });
  });

  it('bounds a batch by count and by weight, an item heavier than the bound going alone', async () => {
    const w = manualWrites();
    const weights: Record<string, number> = { a: 1, b: 40, c: 40, d: 40, e: 500, f: 1, g: 1, h: 1, i: 1 };
    const batcher = new WriteBatcher(w.write, { maxItems: 3, maxWeight: 100 }, (x: string) => weights[x]!);
    const all = Object.keys(weights).map((x) => batcher.submit(x));
    // Each batch completed in turn; the next one starts when the previous one's items are answered.
    for (let k = 0; k < 6; k++) {
      w.allOk(k);
      await all[w.batches.flat().length - 1];
    }
    await settle(all);
    expect(w.batches).toEqual([['a'], ['b', 'c'], ['d'], ['e'], ['f', 'g', 'h'], ['i']]);
  });

  it("settles each item with its own answer, rejects a whole batch whose write failed, and goes on with the next", async () => {
    const w = manualWrites();
    const batcher = new WriteBatcher(w.write, { maxItems: 10, maxWeight: 1_000 }, () => 1);
    const first = batcher.submit('a');
    const second = [batcher.submit('b'), batcher.submit('c')];
    w.finish[0]!(new Error('database gone'));
    await expect(first).rejects.toThrow('database gone');
    await Promise.resolve();
    w.finish[1]!([{ ok: true, value: 'wrote b' }, { ok: false, error: new Error('c refused') }]);
    const [b, c] = await settle(second);
    expect(b).toEqual({ status: 'fulfilled', value: 'wrote b' });
    expect(c).toMatchObject({ status: 'rejected', reason: { message: 'c refused' } });
    const later = batcher.submit('d');
    expect(w.batches).toEqual([['a'], ['b', 'c'], ['d']]);
    w.allOk(2);
    expect(await later).toBe('wrote d');
  });
});
