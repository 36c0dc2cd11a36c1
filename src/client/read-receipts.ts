/**
 * Read receipts going out. When the user has been shown messages, their senders are told so by an
 * ordinary end-to-end encrypted message carrying a `receipt` (e2ee/read-receipt.ts): the server relays
 * one more envelope and learns nothing of what it says. Ids are gathered per sender for a short while and
 * sent together (a backlog shown at once costs one receipt per sender, not one per message), at most
 * MAX_READ_RECEIPT_IDS per receipt.
 *
 * Only what was shown is ever named: the caller (the CLI's receive and chat) calls `add` as it shows a
 * message, never for one that could not be read, a receipt, or one it only counted as unread.
 */
import { MAX_READ_RECEIPT_IDS, READ_RECEIPT, type ReceiptPayload } from '../e2ee/read-receipt.js';
import { senderIdOfRecord, unreadableRecordId } from './stores.js';

/** How long shown ids wait to share one receipt: a screenful shown at once goes out as one. */
export const READ_RECEIPT_DELAY_MS = 250;

export interface ReadReceiptDeps {
  /** Seals a receipt for `to` into the outbox (which sends it); resolves with its message id. */
  seal(to: string, receipt: ReceiptPayload): Promise<string>;
  debug(message: string, cause?: unknown): void;
}

const UNREADABLE_PREFIX = unreadableRecordId('');

export class ReadReceiptSender {
  /** Shown ids waiting to be sent, per sender, in the order shown (a Set: each named once). */
  private pending = new Map<string, Set<string>>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** The receipts being sealed: `flush` waits for them. */
  private sealing: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: ReadReceiptDeps,
    private readonly delayMs = READ_RECEIPT_DELAY_MS,
  ) {}

  /**
   * The user was shown these messages from `sender` (their history record ids). Records of envelopes
   * that could not be read have no sender's id to name and are skipped.
   */
  add(sender: string, recordIds: readonly string[]): void {
    const ids = recordIds.filter((id) => !id.startsWith(UNREADABLE_PREFIX)).map(senderIdOfRecord);
    if (ids.length === 0) return;
    let set = this.pending.get(sender);
    if (!set) this.pending.set(sender, (set = new Set()));
    for (const id of ids) set.add(id);
    this.timer ??= setTimeout(() => void this.flush(), this.delayMs);
  }

  /** Seals every receipt waiting now into the outbox; resolves once all sealed so far are in it. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending;
    this.pending = new Map();
    this.sealing = this.sealing.then(() => this.sealAll(batch));
    return this.sealing;
  }

  /** Drops what waits (read receipts are off now, or the client is closing without the network). */
  discard(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = new Map();
  }

  private async sealAll(batch: ReadonlyMap<string, ReadonlySet<string>>): Promise<void> {
    for (const [sender, set] of batch) {
      const ids = [...set];
      for (let i = 0; i < ids.length; i += MAX_READ_RECEIPT_IDS) {
        const chunk = ids.slice(i, i + MAX_READ_RECEIPT_IDS);
        try {
          await this.deps.seal(sender, { type: READ_RECEIPT, ids: chunk });
        } catch (cause) {
          // Not worth failing anything for: the sender only misses a "read" (e.g. their keys changed
          // and are not trusted yet, or there is no session and no server to start one).
          this.deps.debug(`read receipt for ${chunk.length} message(s) from ${sender} not sent`, cause);
        }
      }
    }
  }
}
