/**
 * The warning shown when a peer's keys changed since they were pinned, which blocks sending to them until
 * the user decides: accept the new keys (exactly the ones whose fingerprint is shown) or keep sending
 * blocked. Kept blocked, it folds to one line with a way back to the decision.
 */
import { useEffect, useRef } from 'preact/hooks';
import type { ChatModel } from '../chat-model.js';
import type { KeyChange } from '../key-review.js';

export function KeyChangePanel({ model, change }: { model: ChatModel; change: KeyChange }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (!change.kept) heading.current?.focus();
  }, [change.kept, change.current]);
  if (change.kept) {
    return (
      <p class="key-change folded">
        Sending to {change.peer} is blocked: their keys changed.{' '}
        <button type="button" onClick={() => model.reviewKeyChange(change.peer)}>
          Review the keys
        </button>
      </p>
    );
  }
  return (
    <section class="key-change" role="alert" aria-labelledby="key-change-heading">
      <h3 id="key-change-heading" tabIndex={-1} ref={heading}>
        {change.peer}'s keys have changed
      </h3>
      <p>
        This happens when {change.peer} reinstalls, but also when someone impersonates them. Sending to {change.peer} is blocked
        until you decide. Ask {change.peer}, in person or over a call you trust, for the fingerprint of their new keys.
      </p>
      <dl>
        <dt>Keys you had</dt>
        <dd class="fingerprint">{change.pinned}</dd>
        <dt>Keys the server gives now</dt>
        <dd class="fingerprint">{change.current}</dd>
      </dl>
      <div class="actions">
        <button type="button" onClick={() => void model.acceptNewKeys(change.peer)}>
          Accept the new keys
        </button>
        <button type="button" onClick={() => model.keepBlocked(change.peer)}>
          Keep sending blocked
        </button>
      </div>
    </section>
  );
}
