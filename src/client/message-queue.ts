/**
 * A push queue exposed as an async iterator, for `for await (const m of client.messages())`. It buffers
 * only once someone has asked to iterate: a client that only listens to events (the CLI's `receive` and
 * `chat`) would otherwise keep every message it ever received in memory, however long it runs.
 */
export class MessageQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<(r: IteratorResult<T>) => void> = [];
  private ended = false;
  private iterated = false;

  push(item: T): void {
    if (this.ended || !this.iterated) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter({ value: item, done: false });
    else this.items.push(item);
  }

  end(): void {
    this.ended = true;
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
  }

  iterate(): AsyncIterableIterator<T> {
    this.iterated = true;
    const next = (): Promise<IteratorResult<T>> => {
      if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
      if (this.ended) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => this.waiters.push(resolve));
    };
    const iterator: AsyncIterableIterator<T> = {
      next,
      return: async () => ({ value: undefined, done: true }),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }
}
