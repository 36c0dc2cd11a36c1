/** The per-device cap on stored one-time prekeys, checked by every store inside the upload's transaction. */
import { ChatError } from '../../protocol/errors.js';
import { MAX_STORED_ONE_TIME_PREKEYS } from '../../protocol/limits.js';

/**
 * Throws `prekey_limit` when `stored` ids (those the upload keeps) plus the upload's new ids would exceed
 * the cap. Ids already stored are replaced, not added, so a repeated upload never counts twice.
 */
export function checkOneTimePreKeyLimit(kind: 'X25519' | 'ML-KEM', stored: ReadonlySet<number>, uploaded: ReadonlyArray<{ id: number }>): void {
  const after = new Set(stored);
  for (const k of uploaded) after.add(k.id);
  if (after.size > MAX_STORED_ONE_TIME_PREKEYS) {
    throw new ChatError(
      'prekey_limit',
      `${kind} one-time prekeys: this upload would leave ${after.size} stored; the server keeps at most ${MAX_STORED_ONE_TIME_PREKEYS} of each kind (${stored.size} stored now)`,
    );
  }
}
