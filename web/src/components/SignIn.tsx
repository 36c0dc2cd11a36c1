/**
 * The first screen: a username and a passphrase, then "Unlock" (an account this browser holds, when it
 * holds any: the name is filled in, or chosen), "Create account" (this browser makes the keys and
 * registers the name, account.ts) or "Link to an existing account" (this browser becomes a new device of
 * an account whose first device approves the code shown, link-device.ts).
 *
 * An account open in another tab of this browser is not opened here alongside it: the screen says so
 * and offers to use it here instead, which stops the other tab.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { createAccount, unlockAccount, type OpenAccount } from '../account.js';
import { AccountInUseError } from '../account-in-use.js';
import { AccountStatus } from '../account-status.js';
import { storedAccounts, type TabChoice } from '../app-stores.js';
import { ChatModel } from '../chat-model.js';
import { describeError } from '../describe-error.js';
import { DevicesModel } from '../devices-model.js';
import { linkToAccount, type PendingLink } from '../link-device.js';
import { LinkWait } from './LinkWait.js';

export interface OpenSession {
  model: ChatModel;
  status: AccountStatus;
  devices: DevicesModel;
}

type Way = (name: string, model: ChatModel, choice: TabChoice) => Promise<OpenAccount>;

export function SignIn({ onOpen }: { onOpen: (session: OpenSession) => void }) {
  /** The accounts this browser holds; undefined until read. */
  const [accounts, setAccounts] = useState<string[] | undefined>(undefined);
  const [username, setUsername] = useState('');
  const [passphrase, setPassphrase] = useState('');
  const [busy, setBusy] = useState<string | undefined>(undefined);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  /** The account is open in another tab: using it here anyway runs the same way in again, taking it over. */
  const [inUse, setInUse] = useState<(() => void) | undefined>(undefined);
  const [link, setLink] = useState<PendingLink | undefined>(undefined);
  const usernameBox = useRef<HTMLInputElement>(null);
  const passphraseBox = useRef<HTMLInputElement>(null);

  const readAccounts = async () => {
    try {
      const names = await storedAccounts();
      setAccounts(names);
      setUsername((typed) => (typed === '' || !names.includes(typed) ? (names[0] ?? typed) : typed));
    } catch (err) {
      setAccounts([]);
      setProblem(`Could not read what this browser stores: ${describeError(err)}`);
    }
  };
  useEffect(() => void readAccounts(), []);

  // The next thing to type: the passphrase of the account filled in, else a username. It comes back there after a failure.
  useEffect(() => {
    if (accounts === undefined || busy !== undefined || link !== undefined) return;
    (accounts.length > 0 ? passphraseBox : usernameBox).current?.focus();
  }, [accounts, busy, link]);

  /** Runs one way in: the model listens from before the login, and takes over once the account is open. */
  const enter = async (what: string, way: Way, choice: TabChoice = {}) => {
    if (busy !== undefined) return;
    const name = username.trim();
    setBusy(what);
    setProblem(undefined);
    setInUse(undefined);
    const model = new ChatModel(name);
    try {
      const account = await way(name, model, choice);
      await model.start(account);
      onOpen({ model, status: new AccountStatus(account, model), devices: new DevicesModel(account) });
    } catch (err) {
      if (err instanceof AccountInUseError) setInUse(() => () => void enter(what, way, { steal: true }));
      setProblem(describeError(err));
      setLink(undefined);
      setBusy(undefined);
      // A failed creation or link was removed, a half-done link found at unlock too.
      await readAccounts();
    }
  };

  const unlock = () => void enter('Unlocking your keys and connecting…', (name, model, choice) => unlockAccount(name, passphrase, (c) => model.listen(c), choice));

  const create = () => void enter('Making your keys and registering the name…', (name, model, choice) => createAccount(name, passphrase, (c) => model.listen(c), choice));

  const linkDevice = () =>
    void enter('Making this device’s keys and asking the server for a link code…', async (name, model, choice) => {
      const pending = await linkToAccount(name, passphrase, (c) => model.listen(c), choice);
      setLink(pending);
      return pending.done;
    });

  if (link) return <LinkWait link={link} />;
  if (accounts === undefined) {
    return (
      <main class="sign-in">
        <h1>e2ee-chat</h1>
        <p role="status">Reading what this browser stores…</p>
      </main>
    );
  }
  const holdsAccounts = accounts.length > 0;
  return (
    <main class="sign-in">
      <h1>e2ee-chat</h1>
      {accounts.length > 1 && (
        <div class="stored-accounts">
          <p id="stored-accounts">Accounts in this browser:</p>
          <ul aria-labelledby="stored-accounts">
            {accounts.map((a) => (
              <li key={a}>
                <button type="button" aria-pressed={a === username.trim()} onClick={() => (setUsername(a), passphraseBox.current?.focus())}>
                  {a}
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}
      <form
        onSubmit={(event) => {
          event.preventDefault();
          (holdsAccounts ? unlock : create)();
        }}
        aria-busy={busy !== undefined}
      >
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
          ref={passphraseBox}
          type="password"
          autocomplete={holdsAccounts ? 'current-password' : 'new-password'}
          aria-describedby="passphrase-note"
          required
          value={passphrase}
          onInput={(e) => setPassphrase(e.currentTarget.value)}
          disabled={busy !== undefined}
        />
        <p id="passphrase-note" class="note">
          Your keys and messages are stored in this browser, sealed under this passphrase. It cannot be recovered:
          without it, what this browser stores cannot be opened.
        </p>
        <div class="actions">
          {holdsAccounts && (
            <button type="submit" disabled={busy !== undefined}>
              Unlock
            </button>
          )}
          <button type={holdsAccounts ? 'button' : 'submit'} disabled={busy !== undefined} onClick={holdsAccounts ? create : undefined}>
            Create account
          </button>
          <button type="button" disabled={busy !== undefined} onClick={linkDevice}>
            Link to an existing account
          </button>
        </div>
        {busy !== undefined && <p role="status">{busy}</p>}
        {problem !== undefined && <p role="alert">{problem}</p>}
        {inUse !== undefined && busy === undefined && (
          <button type="button" onClick={inUse}>
            Use it here
          </button>
        )}
      </form>
    </main>
  );
}
