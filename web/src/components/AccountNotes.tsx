/**
 * What the header says about this device beside the connection: messages waiting in the outbox for a
 * connection, and, plainly, when the browser may clear what this app stores.
 */
import type { AccountStatus } from '../account-status.js';
import { useView } from '../use-view.js';

const STORAGE_WORDS = {
  persisted: undefined,
  denied: 'This browser did not promise to keep what this app stores: it may clear your keys and messages when it runs short of space.',
  unavailable: 'This browser cannot be asked to keep what this app stores: it may clear your keys and messages when it runs short of space.',
} as const;

export function AccountNotes({ status }: { status: AccountStatus }) {
  const view = useView(status);
  const storage = STORAGE_WORDS[view.storage];
  return (
    <>
      {view.waiting > 0 && <p role="status">{view.waiting === 1 ? '1 message waiting to be sent' : `${view.waiting} messages waiting to be sent`}</p>}
      {storage !== undefined && <p class="note">{storage}</p>}
    </>
  );
}
