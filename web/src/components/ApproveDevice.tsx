/**
 * "Approve a new device" (first device only): the code the new device shows, how many recent messages
 * to send it as history (the CLI's `--history N`), then the new device's name and key fingerprint as it
 * offered them (for the user to compare with what the new device shows) and the outcome.
 */
import { useState } from 'preact/hooks';
import { MAX_HISTORY_ON_LINK } from '../../../src/protocol/limits.js';
import type { ApprovalState, DevicesModel } from '../devices-model.js';

function ApprovalProgress({ approval }: { approval: ApprovalState }) {
  switch (approval.phase) {
    case 'idle':
      return null;
    case 'checking':
      return <p role="status">Checking the code with the new device…</p>;
    case 'offered':
      return (
        <p role="status">
          New device "{approval.offer.name}", key <code>{approval.offer.keyFingerprint}</code>: check that the new device shows the same
          key. Adding it…
        </p>
      );
    case 'sending-history':
      return (
        <p role="status">
          Sending the last {approval.records} messages to device {approval.device}…
        </p>
      );
  }
}

export function ApproveDevice({ model, approval, username }: { model: DevicesModel; approval: ApprovalState; username: string }) {
  const [code, setCode] = useState('');
  const [history, setHistory] = useState('0');
  const busy = approval.phase !== 'idle';

  // The boxes stay enabled while an approval runs (a disabled box would drop the keyboard focus); the
  // model refuses a second approval meanwhile.
  const submit = async (event: Event) => {
    event.preventDefault();
    // A code runs once, whatever the outcome: the box is emptied for the next one.
    if (await model.approve(code, history)) setHistory('0');
    setCode('');
  };

  return (
    <section class="approve" aria-labelledby="approve-heading">
      <h3 id="approve-heading">Approve a new device</h3>
      <p>
        On the new device, run <code>e2ee-chat link --user {username}</code> (or, in a browser, choose "Link to an existing account"),
        then type the code it shows here. A code works once.
      </p>
      <form onSubmit={submit} aria-busy={busy}>
        <label for="approve-code">Link code</label>
        <input
          id="approve-code"
          type="text"
          autocomplete="off"
          autocapitalize="characters"
          spellcheck={false}
          required
          value={code}
          onInput={(e) => setCode(e.currentTarget.value)}
        />
        <label for="approve-history">Recent messages to send it as history</label>
        <input
          id="approve-history"
          type="number"
          min={0}
          max={MAX_HISTORY_ON_LINK}
          step={1}
          required
          value={history}
          onInput={(e) => setHistory(e.currentTarget.value)}
        />
        <button type="submit" disabled={busy}>
          Approve
        </button>
      </form>
      <ApprovalProgress approval={approval} />
    </section>
  );
}
