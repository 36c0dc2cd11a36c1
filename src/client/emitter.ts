/**
 * A minimal typed event emitter that runs in any JavaScript runtime (no node:events).
 *
 * Listeners are isolated from the emitter and from each other: a listener that throws (or returns a
 * promise that rejects) is reported to `onListenerError` and the others still run. The client emits from
 * its receive path, after a message is committed: application code must never be able to stop that path
 * or leave a message unacknowledged by throwing.
 */
export type Listener<A> = (arg: A) => void;

export type ListenerErrorHandler<Events> = (event: keyof Events, error: unknown) => void;

export class TypedEmitter<Events extends { [K in keyof Events]: unknown }> {
  private readonly listeners = new Map<keyof Events, Set<Listener<never>>>();

  constructor(private readonly onListenerError: ListenerErrorHandler<Events>) {}

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as Listener<never>);
    return () => this.off(event, listener);
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): void {
    this.listeners.get(event)?.delete(listener as Listener<never>);
  }

  /** Calls every listener of `event` once, in the order they were added; never throws. */
  protected emit<K extends keyof Events>(event: K, arg: Events[K]): void {
    // A copy: a listener that adds or removes listeners changes the next emit, not this one.
    for (const l of [...(this.listeners.get(event) ?? [])]) {
      try {
        // Typed as returning void, but an async function fits that type: its rejection is caught too.
        const result: unknown = (l as Listener<Events[K]>)(arg);
        if (isThenable(result)) result.then(undefined, (error: unknown) => this.listenerFailed(event, error));
      } catch (error) {
        this.listenerFailed(event, error);
      }
    }
  }

  private listenerFailed(event: keyof Events, error: unknown): void {
    try {
      this.onListenerError(event, error);
    } catch {
      // The report itself failed (its own listener threw): nothing left to tell, and the emitter goes on.
    }
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}
