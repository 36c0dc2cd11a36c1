/**
 * The new device's wait for the history its primary sends after linking it (docs/PROTOCOL.md §21.3.1):
 * the provisioning announced how many records follow; they come as `history` events (each history
 * message once, however often it is delivered), and the wait ends when that many have been handled or
 * the time is up. What did not come by then arrives with the next `receive`: nothing is lost by stopping.
 */
import type { ChatClient, HistoryReceived } from '../client/chat-client.js';

/** Long enough for a primary to seal and send the largest history (MAX_HISTORY_ON_LINK records) on a slow link. */
export const HISTORY_WAIT_MS = 60_000;

export class HistoryArrival {
  private readonly seen = new Set<string>();
  /** Items handled so far (recorded now, or found recorded already). */
  items = 0;
  /** Items that were new here: what the user got. */
  recorded = 0;
  private wake: (() => void) | undefined;

  /** Counts the client's `history` events; call before it connects (the history may be in the login's backlog). */
  listen(client: ChatClient): void {
    client.on('history', (h: HistoryReceived) => {
      if (this.seen.has(h.id)) return;
      this.seen.add(h.id);
      this.items += h.items;
      this.recorded += h.recorded;
      this.wake?.();
    });
  }

  /** Resolves true once `expected` items were handled, false if `timeoutMs` passed first. */
  async until(expected: number, timeoutMs: number = HISTORY_WAIT_MS): Promise<boolean> {
    if (this.items >= expected) return true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
        this.wake = () => {
          if (this.items >= expected) resolve(true);
        };
      });
    } finally {
      clearTimeout(timer);
      this.wake = undefined;
    }
  }
}
