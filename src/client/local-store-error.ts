/**
 * A failure of this device's own storage (SQLite busy, a row that does not open) met while opening a
 * message. It must never pass for a bad message: that would acknowledge the envelope as rejected and
 * destroy a good message for a local fault. It is 'internal', which the receiving side treats as passing
 * (retried, then left for redelivery).
 */
import { ChatError } from '../protocol/errors.js';

export class LocalStoreError extends ChatError {
  constructor(what: string, cause: unknown) {
    super('internal', `local store: ${what} failed`, { cause });
    this.name = 'LocalStoreError';
  }
}

/** Runs a store read, marking any failure as local. */
export async function readLocal<T>(what: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (err) {
    throw err instanceof LocalStoreError ? err : new LocalStoreError(what, err);
  }
}

/** How deep a chain of causes is searched: decryption wraps its failures a few levels at most. */
const MAX_CAUSE_DEPTH = 8;

/** The LocalStoreError somewhere in `err`'s chain of causes, if any. */
export function localStoreErrorIn(err: unknown): LocalStoreError | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && current instanceof Error; depth++) {
    if (current instanceof LocalStoreError) return current;
    current = current.cause;
  }
  return undefined;
}
