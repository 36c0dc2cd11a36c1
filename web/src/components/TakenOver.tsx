/**
 * This tab's account was taken over by another tab of this browser ("Use it here" there): the client
 * here has stopped, so that one tab at a time advances the account's sessions. Reloading starts again
 * from the first screen, from which this tab can take the account back.
 */
import { useEffect, useRef } from 'preact/hooks';

export function TakenOver({ username }: { username: string }) {
  const again = useRef<HTMLButtonElement>(null);
  useEffect(() => again.current?.focus(), []);
  return (
    <main class="sign-in">
      <h1>e2ee-chat</h1>
      <p role="alert">
        {username} is now open in another tab of this browser, so this tab stopped: one tab at a time sends and receives
        for an account.
      </p>
      <button type="button" ref={again} onClick={() => window.location.reload()}>
        Start again here
      </button>
    </main>
  );
}
