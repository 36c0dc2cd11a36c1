/** The model's current view in a component, re-rendered on every change. */
import { useEffect, useState } from 'preact/hooks';
import type { ChatModel, ChatView } from './chat-model.js';

export function useView(model: ChatModel): ChatView {
  const [view, setView] = useState(model.view);
  useEffect(() => {
    setView(model.view);
    return model.subscribe(() => setView(model.view));
  }, [model]);
  return view;
}
