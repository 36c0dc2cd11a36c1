/**
 * What the signed-in screen says about this device's footing, beside the conversations (chat-model.ts):
 * whether the browser promised to keep the stores, how many messages wait in the outbox for a connection
 * (written while offline or while the server restarts; the client sends them once it logs in again), and
 * whether another tab took the account over, in which case this tab's client is stopped at once.
 *
 * The outbox is read from the store, like everything the chat model shows: after every change the chat
 * model shows (a send records its message there first) and every event that moves the outbox.
 */
import type { StoragePersistence } from '../../src/client/browser/index.js';
import type { OpenAccount } from './account.js';
import type { ChatModel } from './chat-model.js';
import { ViewModel } from './view-model.js';

export interface AccountStatusView {
  storage: StoragePersistence;
  /** Messages (not receipts) in the outbox, not given up: they go out when the client logs in again. */
  waiting: number;
  /** Another tab of this browser took the account over: this one stopped. */
  takenOver: boolean;
}

export class AccountStatus extends ViewModel<AccountStatusView> {
  private counting: Promise<void> = Promise.resolve();
  private countQueued = false;

  constructor(
    private readonly account: OpenAccount,
    model: ChatModel,
  ) {
    super({ storage: account.storage, waiting: 0, takenOver: false });
    for (const event of ['sent', 'failed', 'disconnected', 'reconnected'] as const) account.client.on(event, () => this.countSoon());
    model.subscribe(() => this.countSoon());
    void account.stores.lost.then(() => this.stop());
    this.countSoon();
  }

  /** Another tab has the account now: this tab must not advance a session again. */
  private async stop(): Promise<void> {
    this.set({ takenOver: true });
    // The screen already says this tab stopped; a close that fails midway has nothing more to tell.
    await this.account.close().catch(() => undefined);
  }

  /** Counts the waiting messages after the count queued before; several calls in a row count once. */
  private countSoon(): void {
    if (this.countQueued || this.snapshot.takenOver) return;
    this.countQueued = true;
    this.counting = this.counting
      .then(async () => {
        this.countQueued = false;
        if (this.snapshot.takenOver) return;
        const entries = await this.account.stores.messages.outbox();
        const waiting = entries.filter((e) => e.kind === undefined).length;
        if (waiting !== this.snapshot.waiting) this.set({ waiting });
      })
      // A count that failed (the stores closed under it) leaves the last one shown.
      .catch(() => undefined);
  }
}
