/**
 * The first screen: a username and a passphrase, and "Create account", which makes this browser's keys
 * and registers the name on the server (account.ts). Linking this browser to an existing account is not
 * offered yet: no button pretends to.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { createAccount } from '../account.js';
import { ChatModel } from '../chat-model.js';
import { describeError } from '../describe-error.js';

export function CreateAccount({ onOpen }: { onOpen: (model: ChatModel) => void }) {
  const [username, setUsername] = useState('');
  const [passphrase, setPassphrase] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const usernameBox = useRef<HTMLInputElement>(null);
  // The one thing to do on this screen: the cursor starts there.
  useEffect(() => usernameBox.current?.focus(), []);

  const submit = async (event: Event) => {
    event.preventDefault();
    if (busy) return;
    setBusy(true);
    setProblem(undefined);
    const name = username.trim();
    const model = new ChatModel(name);
    try {
      const account = await createAccount(name, passphrase, (client) => model.listen(client));
      await model.start(account);
      onOpen(model);
    } catch (err) {
      setProblem(describeError(err));
      setBusy(false);
    }
  };

  return (
    <main class="create-account">
      <h1>e2ee-chat</h1>
      <form onSubmit={submit} aria-busy={busy}>
        <label for="username">Username</label>
        <input
          id="username"
          ref={usernameBox}
          type="text"
          autocomplete="username"
          autocapitalize="none"
          spellcheck={false}
          required
          value={username}
          onInput={(e) => setUsername(e.currentTarget.value)}
          disabled={busy}
        />
        <label for="passphrase">Passphrase</label>
        <input
          id="passphrase"
          type="password"
          autocomplete="new-password"
          aria-describedby="passphrase-note"
          value={passphrase}
          onInput={(e) => setPassphrase(e.currentTarget.value)}
          disabled={busy}
        />
        <p id="passphrase-note" class="note">
          This version keeps your keys and messages in this tab only: closing or reloading it loses them. The
          passphrase will protect what a later version stores in this browser; it is not used yet.
        </p>
        <button type="submit" disabled={busy}>
          Create account
        </button>
        {busy && <p role="status">Making your keys and registering the name…</p>}
        {problem !== undefined && <p role="alert">{problem}</p>}
      </form>
    </main>
  );
}
