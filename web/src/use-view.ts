/** A model's current view in a component (the chat model, the account status), re-rendered on every change. */
import { useEffect, useState } from 'preact/hooks';

export interface ViewSource<V> {
  readonly view: V;
  subscribe(listener: () => void): () => void;
}

export function useView<V>(model: ViewSource<V>): V {
  const [view, setView] = useState(model.view);
  useEffect(() => {
    setView(model.view);
    return model.subscribe(() => setView(model.view));
  }, [model]);
  return view;
}
