/**
 * The shape every model of the app shares: its state is one immutable view, replaced (never changed in
 * place) on each change, and the components that show it (useView) are told. A subclass changes it only
 * through `set`.
 */
import type { ViewSource } from './use-view.js';

export class ViewModel<V extends object> implements ViewSource<V> {
  private readonly listeners = new Set<() => void>();

  constructor(protected snapshot: V) {}

  get view(): V {
    return this.snapshot;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  protected set(change: Partial<V>): void {
    this.snapshot = { ...this.snapshot, ...change };
    for (const listener of [...this.listeners]) listener();
  }
}
