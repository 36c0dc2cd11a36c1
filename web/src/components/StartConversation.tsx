/** "Start a conversation with" a user by name: checked with the server before the conversation opens. */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ChatModel } from '../chat-model.js';

export function StartConversation({ model }: { model: ChatModel }) {
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  // The first thing to do on a new account: the cursor starts here.
  useEffect(() => input.current?.focus(), []);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    const opened = await model.startConversation(name.trim());
    setBusy(false);
    if (opened) setName('');
  };

  return (
    <form class="start" onSubmit={submit} aria-busy={busy}>
      <label for="peer">Start a conversation with</label>
      <input
        id="peer"
        ref={input}
        type="text"
        autocomplete="off"
        autocapitalize="none"
        spellcheck={false}
        required
        value={name}
        onInput={(e) => setName(e.currentTarget.value)}
      />
      <button type="submit" disabled={busy}>
        Start
      </button>
    </form>
  );
}
