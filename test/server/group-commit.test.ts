import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/server/store/group-commit.js';

/** A fake transaction: runs the work, and throws (rolling back) when asked to. */
function fakeDb() {
  const committed: number[][] = [];
  let current: number[] | null = null;
  return {
    committed,
    write: (n: number) => {
      if (n < 0) throw new Error(`bad write ${n}`);
      current!.push(n);
      return n * 10;
    },
    transaction: (run: () => void) => {
      current = [];
      try {
        run();
        committed.push(current);
      } finally {
        current = null;
      }
    },
  };
}

describe('group commit', () => {
  it('commits writes requested together in one transaction, answering each caller after durability', async () => {
    const db = fakeDb();
    let syncs = 0;
    const gc = new GroupCommit(db.transaction, async () => void syncs++);
    const results = await Promise.all([1, 2, 3].map((n) => gc.run(() => db.write(n))));
    expect(results).toEqual([10, 20, 30]);
    expect(db.committed).toEqual([[1, 2, 3]]);
    expect(syncs).toBe(1);
  });

  it('a failing write fails alone: the others of its batch still commit', async () => {
    const db = fakeDb();
    const gc = new GroupCommit(db.transaction);
    const outcomes = await Promise.allSettled([1, -2, 3].map((n) => gc.run(() => db.write(n))));
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(outcomes[0]).toMatchObject({ value: 10 });
    expect(outcomes[2]).toMatchObject({ value: 30 });
    expect(db.committed.flat().sort()).toEqual([1, 3]);
  });

  it('writes arriving while a batch is made durable commit at once, and are answered after it, in order', async () => {
    const db = fakeDb();
    const releases: Array<() => void> = [];
    const gc = new GroupCommit(db.transaction, () => new Promise<void>((r) => releases.push(r)));
    const answered: number[] = [];
    const first = gc.run(() => db.write(1)).then((v) => void answered.push(v));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const later = [2, 3, 4].map((n) => gc.run(() => db.write(n)).then((v) => void answered.push(v)));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    // Committed (their effects may be pushed) while the first fsync is still running; nobody answered yet.
    expect(db.committed).toEqual([[1], [2, 3, 4]]);
    expect(answered).toEqual([]);
    // The second fsync finishing first answers nobody before the first batch is durable too.
    releases[1]!();
    await new Promise((r) => setImmediate(r));
    expect(answered).toEqual([]);
    releases[0]!();
    await Promise.all([first, ...later]);
    expect(answered).toEqual([10, 20, 30, 40]);
  });

  it('a failed flush to disk rejects the callers: nothing is acknowledged that is not durable', async () => {
    const db = fakeDb();
    const gc = new GroupCommit(db.transaction, async () => {
      throw new Error('disk gone');
    });
    await expect(gc.run(() => db.write(1))).rejects.toThrow('disk gone');
  });
});

describe('group commit shutdown', () => {
  it('close lets requested writes finish and refuses later ones', async () => {
    const db = fakeDb();
    const gc = new GroupCommit(db.transaction);
    const before = gc.run(() => db.write(1));
    await gc.close();
    expect(await before).toBe(10);
    await expect(gc.run(() => db.write(2))).rejects.toThrow('the server is shutting down');
    expect(db.committed.flat()).toEqual([1]);
  });
});
