/**
 * While the account's first device approves this browser: the code to type there, this device's key
 * fingerprint to compare, when the code expires, and a way to give up.
 */
import { useEffect, useRef } from 'preact/hooks';
import { clockTime } from '../message-words.js';
import type { PendingLink } from '../link-device.js';

export function LinkWait({ link }: { link: PendingLink }) {
  const cancel = useRef<HTMLButtonElement>(null);
  useEffect(() => cancel.current?.focus(), []);
  return (
    <main class="sign-in">
      <h1>Link this browser to {link.username}</h1>
      <p>On the device {link.username} already uses (the first one), run:</p>
      <pre>
        <code>
          e2ee-chat devices approve {link.code} --user {link.username}
        </code>
      </pre>
      {/* A read-only box: named for assistive technology, and easy to select and copy. */}
      <label for="link-code">Link code</label>
      <input id="link-code" class="link-code" type="text" readOnly value={link.code} />
      <p>
        Check that it shows this device’s key: <code>{link.keyFingerprint}</code>
      </p>
      <p role="status">Waiting for approval; the code expires at {clockTime(link.expiresAt)}.</p>
      <button type="button" ref={cancel} onClick={() => link.cancel()}>
        Cancel
      </button>
    </main>
  );
}
