/**
 * Drains the persisted outbox, oldest first and one entry at a time, whenever the client is logged in. Each entry carries its
 * message id, which the server uses as an idempotency key: an entry resent after a lost ack is stored
 * once. An entry leaves the outbox only when the server has answered for it.
 */
import { ChatError, type ErrorCode } from '../protocol/errors.js';
import type { SendResult } from '../protocol/events.js';
import type { ServerConnection } from './server-connection.js';
import type { MessageStore, OutboxEntry } from './stores.js';

export interface SentMessage {
  /** The message's own id (the idempotency key, signed inside the envelope). */
  id: string;
  to: string;
  /** sent: pushed to a device of the recipient; queued: stored for later; outbox: not yet accepted. */
  status: 'sent' | 'queued' | 'outbox';
  serverId?: string;
  serverTime?: number;
}


/** Answers after which resending cannot help: the entry is marked failed. */
const PERMANENT: ReadonlySet<ErrorCode> = new Set(['unknown_user', 'quota_exceeded', 'envelope_too_large', 'bad_request']);

/** After a transient refusal (rate_limited, timeout, internal) the next round waits this long. */
const RETRY_DELAY_MS = 1000;

export interface OutboxEvents {
  sent(m: SentMessage): void;
  failed(f: { id: string; to: string; error: ChatError }): void;
  debug(message: string, cause?: unknown): void;
}

export class OutboxSender {
  private running = false;
  private again = false;
  private readonly waiters = new Map<string, Array<{ resolve: (m: SentMessage) => void; reject: (e: unknown) => void }>>();

  constructor(
    private readonly store: MessageStore,
    private readonly connection: ServerConnection,
    private readonly events: OutboxEvents,
  ) {}

  /** Resolves when the server has accepted (or finally refused) the entry with this id. */
  waitFor(id: string): Promise<SentMessage> {
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(id) ?? [];
      list.push({ resolve, reject });
      this.waiters.set(id, list);
    });
  }

  flush(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.drain()
      .catch((err: unknown) => this.events.debug('outbox drain failed', err))
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.flush();
        }
      });
  }

  private async drain(): Promise<void> {
    for (;;) {
      this.again = false;
      if (!this.connection.authenticated) return;
      const entries = await this.store.outbox();
      if (entries.length === 0) return;
      // One at a time: if an entry were refused for a passing reason (a server fault) while later ones
      // were already in flight, those would be stored before it and the recipient would see them out of
      // order. Pipelining safely needs the server to refuse an entry whose predecessor it has not
      // stored; until the protocol says so, order wins over outbox speed.
      let transient = false;
      for (const entry of entries) {
        if (!this.connection.authenticated) break;
        if ((await this.sendOne(entry)) === 'retry') {
          transient = true;
          break;
        }
      }
      if (transient) {
        await new Promise((r) => setTimeout(r, RETRY_DELAY_MS));
        continue;
      }
      if (!this.again) return;
    }
  }

  private async sendOne(e: OutboxEntry): Promise<'done' | 'retry'> {
    let result: SendResult;
    try {
      result = await this.connection.call<SendResult>('send', { to: e.to, id: e.id, envelope: e.envelope });
    } catch (err) {
      if (err instanceof ChatError && PERMANENT.has(err.code)) {
        await this.store.settleOutgoing(e.id, 'failed');
        this.events.failed({ id: e.id, to: e.to, error: err });
        this.settle(e.id, (w) => w.reject(err));
        return 'done';
      }
      this.events.debug(`send of ${e.id} will be retried`, err);
      return 'retry';
    }
    const status = result.status === 'delivered' ? 'sent' : 'queued';
    await this.store.settleOutgoing(e.id, status, { id: result.id, time: result.sentAt });
    const sent: SentMessage = { id: e.id, to: e.to, status, serverId: result.id, serverTime: result.sentAt };
    this.events.sent(sent);
    this.settle(e.id, (w) => w.resolve(sent));
    return 'done';
  }

  private settle(id: string, fn: (w: { resolve: (m: SentMessage) => void; reject: (e: unknown) => void }) => void): void {
    for (const w of this.waiters.get(id) ?? []) fn(w);
    this.waiters.delete(id);
  }
}
