/**
 * Drains the persisted outbox, oldest first and one entry at a time, whenever the client is logged in. Each entry carries its
 * message id, which the server uses as an idempotency key: an entry resent after a lost ack is stored
 * once. An entry leaves the outbox when the server has accepted it; an entry that cannot go out (refused
 * for good, too large for the server, or failing again and again) is marked failed and stays listed for
 * `e2ee-chat outbox` to show and drop, out of the way of the entries behind it.
 */
import { ChatError, type ErrorCode } from '../protocol/errors.js';
import type { SendResultV2 } from '../protocol/events-v2.js';
import type { CopyDelivery } from './delivery-copies.js';
import { DevicesChangedError } from './devices-changed-error.js';
import type { ServerConnection } from './server-connection.js';
import { largestCopyBytes } from './outbox-entry.js';
import type { MessageStore, OutboxEntry, OutboxFailure } from './stores.js';

export interface SentMessage {
  /** The message's own id (the idempotency key, signed inside the envelope). */
  id: string;
  to: string;
  /**
   * sent: the server stored it and pushed it to a connected device of the recipient (not yet a delivery:
   * that is the receipt); queued: stored for later; outbox: not yet accepted.
   */
  status: 'sent' | 'queued' | 'outbox';
  serverId?: string;
  serverTime?: number;
  /** How many devices of the recipient it went to (once accepted). */
  devices?: number;
}

/** Answers after which resending cannot help: the entry is marked failed at once. */
const PERMANENT: ReadonlySet<ErrorCode> = new Set([
  'unknown_user',
  'quota_exceeded',
  'sender_quota_exceeded',
  'envelope_too_large',
  'bad_request',
  'invalid_username',
  'unknown_event',
  // A history message whose one device left the list before it went (device-set-refresh.ts).
  'unknown_device',
]);

/**
 * Sends of one entry that may fail for a passing reason (timeout, dropped connection, rate_limited,
 * server_full, internal) before it is marked failed. Counted persistently and before each send, so an
 * entry that makes the connection drop (or the process die) while it is being sent cannot block the
 * outbox across restarts either. Five: a server restart or a network blip costs one or two.
 */
export const MAX_SEND_ATTEMPTS = 5;

/**
 * Refreshes of the device set within one attempt (§21.5): a device linked while the message was being
 * sent costs one. Past this the attempt counts as failed and waits its turn, so a server that keeps
 * changing its answer cannot make the client loop.
 */
export const DEVICE_SET_RETRIES = 3;

/** After a transient refusal (rate_limited, timeout, internal) the next round waits this long. */
const RETRY_DELAY_MS = 1000;

export interface OutboxEvents {
  sent(m: SentMessage): void;
  failed(f: { id: string; to: string; error: ChatError }): void;
  debug(message: string, cause?: unknown): void;
}

type Waiter = { resolve: (m: SentMessage) => void; reject: (e: unknown) => void };

export class OutboxSender {
  private running = false;
  private again = false;
  /** Told when a drain ends with nothing more to do now (see idle). */
  private idleWaiters: Array<() => void> = [];
  private readonly waiters = new Map<string, Waiter[]>();

  constructor(
    private readonly store: MessageStore,
    private readonly connection: ServerConnection,
    private readonly events: OutboxEvents,
    /** The server's envelope cap as last announced (an entry above it would make the transport drop us). */
    private readonly maxEnvelopeBytes: () => number,
    /** Brings an entry up to the lists of a devices_changed refusal (device-set-refresh.ts). */
    private readonly refreshDevices: (entry: OutboxEntry, refusal: DevicesChangedError) => Promise<OutboxEntry>,
    private readonly retryDelayMs = RETRY_DELAY_MS,
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
          return;
        }
        for (const resolve of this.idleWaiters.splice(0)) resolve();
      });
  }

  /**
   * Resolves when no drain is running: what could go out on this connection has gone out, was given up,
   * or waits for the next login (a drain stops when the connection does). At once when none runs.
   */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
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
      // stored; until the protocol says so, order wins over outbox speed. A failed entry is out of the
      // order for good, so the ones behind it go on.
      let transient = false;
      for (const entry of entries) {
        if (!this.connection.authenticated) break;
        if ((await this.sendOne(entry)) === 'retry') {
          transient = true;
          break;
        }
      }
      if (transient) {
        await new Promise((r) => setTimeout(r, this.retryDelayMs));
        continue;
      }
      if (!this.again) return;
    }
  }

  private async sendOne(e: OutboxEntry): Promise<'done' | 'retry'> {
    // An entry sealed before the client knew the server's cap (or for another server): sending it would
    // only make the transport drop the connection, again and again.
    const size = largestCopyBytes(e);
    if (size > this.maxEnvelopeBytes()) {
      const n = (v: number) => v.toLocaleString('en-US');
      await this.fail(e, new ChatError('envelope_too_large', `message is ${n(size)} bytes sealed; the server accepts at most ${n(this.maxEnvelopeBytes())}`));
      return 'done';
    }
    const previous = e.attempts ?? 0;
    if (previous >= MAX_SEND_ATTEMPTS) {
      await this.fail(e, new ChatError('timeout', `gave up after ${previous} attempts to send it (the connection failed or the server did not answer each time)`));
      return 'done';
    }
    await this.store.countSendAttempt(e.id);
    let result: SendResultV2;
    try {
      result = await this.sendWithCurrentDevices(e);
    } catch (err) {
      if (err instanceof ChatError && PERMANENT.has(err.code)) {
        await this.fail(e, err);
        return 'done';
      }
      if (previous + 1 >= MAX_SEND_ATTEMPTS) {
        const code = err instanceof ChatError ? err.code : 'internal';
        const why = err instanceof Error ? err.message : String(err);
        await this.fail(e, new ChatError(code, `gave up after ${previous + 1} attempts to send it; last: ${why}`, { cause: err }));
        return 'done';
      }
      this.events.debug(`send of ${e.id} will be retried (attempt ${previous + 1} of ${MAX_SEND_ATTEMPTS})`, err);
      return 'retry';
    }
    const deliveries: CopyDelivery[] = result.deliveries.map((d) => ({
      to: d.to,
      device: d.device,
      status: d.status === 'delivered' ? 'sent' : 'queued',
      serverId: d.id,
      serverTime: d.sentAt,
    }));
    await this.store.settleOutgoing(e.id, deliveries);
    // The user-facing answer is about the peer: sent when any of their devices had it pushed.
    const toPeer = deliveries.filter((d) => d.to === e.to);
    const first = toPeer[0] ?? deliveries[0]!;
    const status = toPeer.some((d) => d.status === 'sent') ? 'sent' : 'queued';
    const sent: SentMessage = { id: e.id, to: e.to, status, serverId: first.serverId, serverTime: first.serverTime, devices: toPeer.length };
    // A read receipt or history for a linked device is not a message the user wrote: nothing to tell them.
    if (e.kind === undefined) this.events.sent(sent);
    this.settle(e.id, (w) => w.resolve(sent));
    return 'done';
  }

  /**
   * One attempt: sends the entry's copies; a devices_changed refusal brings the entry up to the current
   * device set and sends again, at most DEVICE_SET_RETRIES times. The answer must account for exactly
   * the copies sent, in their order (anything else is bad_response).
   */
  private async sendWithCurrentDevices(entry: OutboxEntry): Promise<SendResultV2> {
    let e = entry;
    for (let refresh = 0; ; refresh++) {
      try {
        const result = await this.connection.call('send', { id: e.id, messages: e.messages });
        const matches = result.deliveries.length === e.messages.length && result.deliveries.every((d, i) => d.to === e.messages[i]!.to && d.device === e.messages[i]!.device);
        if (!matches) throw new ChatError('bad_response', `the server's answer to the send of ${e.id} is not about the copies sent`);
        return result;
      } catch (err) {
        if (!(err instanceof DevicesChangedError)) throw err;
        if (refresh >= DEVICE_SET_RETRIES) throw new ChatError('timeout', `the devices of ${e.to} kept changing while ${e.id} was being sent (${refresh + 1} refusals)`, { cause: err });
        e = await this.refreshDevices(e, err);
      }
    }
  }

  private async fail(e: OutboxEntry, error: ChatError): Promise<void> {
    const failure: OutboxFailure = { code: error.code, message: error.message, at: Date.now() };
    await this.store.failOutgoing(e.id, failure);
    if (e.kind === 'receipt') this.events.debug(`read receipt ${e.id} to ${e.to} given up`, error);
    else if (e.kind === 'history') this.events.debug(`history message ${e.id} for ${e.messages.map((m) => `${m.to}/${m.device}`).join(', ')} given up (it stays in the outbox, marked failed)`, error);
    else this.events.failed({ id: e.id, to: e.to, error });
    this.settle(e.id, (w) => w.reject(error));
  }

  private settle(id: string, fn: (w: Waiter) => void): void {
    for (const w of this.waiters.get(id) ?? []) fn(w);
    this.waiters.delete(id);
  }
}
