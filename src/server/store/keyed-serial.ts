/**
 * Runs tasks with the same key one after another, in call order; tasks with different keys run side by
 * side. The PostgreSQL store uses it where its pool would otherwise let concurrent calls of one node
 * overtake each other on their way to the database (SQLite's single writer queue never reorders them).
 */
export class KeyedSerial {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const result = before.then(task, task);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    // The last task of a key forgets it, so the map holds only keys with work pending.
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
