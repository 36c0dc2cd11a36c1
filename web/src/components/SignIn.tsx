/**
 * The first screen: a username and a passphrase, then either "Create account" (this browser makes the
 * keys and registers the name, account.ts) or "Link to an existing account" (this browser becomes a new
 * device of an account whose first device approves the code shown, link-device.ts).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { createAccount, type OpenAccount } from '../account.js';
import { ChatModel } from '../chat-model.js';
import { describeError } from '../describe-error.js';
import { linkToAccount, type PendingLink } from '../link-device.js';
import { LinkWait } from './LinkWait.js';

export function SignIn({ onOpen }: { onOpen: (model: ChatModel) => void }) {
  const [username, setUsername] = useState('');
  const [passphrase, setPassphrase] = useState('');
  const [busy, setBusy] = useState<string | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [link, setLink] = useState<PendingLink | undefined>(undefined);
  const usernameBox = useRef<HTMLInputElement>(null);
  // The first thing to do on this screen: the cursor starts there, and comes back after a failure.
  useEffect(() => {
    if (busy === undefined && link === undefined) usernameBox.current?.focus();
  }, [busy, link]);

  /** Runs one way in: the model listens from before the login, and takes over once the account is open. */
  const enter = async (what: string, open: (name: string, model: ChatModel) => Promise<OpenAccount>) => {
    if (busy !== undefined) return;
    const name = username.trim();
    setBusy(what);
    setProblem(undefined);
    const model = new ChatModel(name);
    try {
      await model.start(await open(name, model));
      onOpen(model);
    } catch (err) {
      setProblem(describeError(err));
      setLink(undefined);
      setBusy(undefined);
    }
  };

  const create = (event: Event) => {
    event.preventDefault();
    void enter('Making your keys and registering the name…', (name, model) => createAccount(name, passphrase, (c) => model.listen(c)));
  };

  const linkDevice = () =>
    void enter('Making this device’s keys and asking the server for a link code…', async (name, model) => {
      const pending = await linkToAccount(name, passphrase, (c) => model.listen(c));
      setLink(pending);
      return pending.done;
    });

  if (link) return <LinkWait link={link} />;
  return (
    <main class="sign-in">
      <h1>e2ee-chat</h1>
      <form onSubmit={create} aria-busy={busy !== undefined}>
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
          disabled={busy !== undefined}
        />
        <label for="passphrase">Passphrase</label>
        <input
          id="passphrase"
          type="password"
          autocomplete="new-password"
          aria-describedby="passphrase-note"
          value={passphrase}
          onInput={(e) => setPassphrase(e.currentTarget.value)}
          disabled={busy !== undefined}
        />
        <p id="passphrase-note" class="note">
          This version keeps your keys and messages in this tab only: closing or reloading it loses them. The
          passphrase will protect what a later version stores in this browser; it is not used yet.
        </p>
        <div class="actions">
          <button type="submit" disabled={busy !== undefined}>
            Create account
          </button>
          <button type="button" disabled={busy !== undefined} onClick={linkDevice}>
            Link to an existing account
          </button>
        </div>
        {busy !== undefined && <p role="status">{busy}</p>}
        {problem !== undefined && <p role="alert">{problem}</p>}
      </form>
    </main>
  );
}
