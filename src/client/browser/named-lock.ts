/**
 * A lock held across awaits, for the few store steps whose caller's code runs between the read and the
 * write (PeerKeyStore.update: the change may delete sessions, so it must run once, on the pin as it is
 * now, never again on a retry). Web Locks (`navigator.locks`) make it one step across every tab and
 * worker of the origin, as the lock file does across a user's processes on Node; where the runtime has
 * none (Node 20, where the tests run) the lock is a queue in this JavaScript realm.
 */
interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

const webLocks = (): LockManagerLike | undefined => (globalThis.navigator as { locks?: LockManagerLike } | undefined)?.locks;

const queues = new Map<string, Promise<unknown>>();

function inRealm<T>(name: string, run: () => Promise<T>): Promise<T> {
  const previous = queues.get(name) ?? Promise.resolve();
  const result = previous.then(run, run);
  const tail = result.then(
    () => undefined,
    () => undefined,
  );
  queues.set(name, tail);
  // Forget the queue once it is idle, so names do not accumulate.
  void tail.then(() => {
    if (queues.get(name) === tail) queues.delete(name);
  });
  return result;
}

/** Runs `run` while holding the exclusive lock `name`; its result or error is passed on. */
export function withNamedLock<T>(name: string, run: () => Promise<T>): Promise<T> {
  const locks = webLocks();
  return locks ? locks.request(name, run) : inRealm(name, run);
}
