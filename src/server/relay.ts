/**
 * Store-and-forward: every envelope is stored durably before `send` is acknowledged, pushed to the
 * recipient's connected devices, and deleted only when a device acknowledges it; the sender then gets a
 * delivery receipt. Offline recipients get their backlog on login, oldest first, with flow control.
 * Receipts go to the sender's room through the adapter; envelopes reach the recipient's connections
 * through the DeliveryNotifier (delivery-notifier.ts), so neither depends on where the user is connected.
 */
import type { Logger } from 'pino';
import { newServerId } from './ids.js';
import { ChatError } from '../protocol/errors.js';
import type { AckResult, ReceiptEvent, SendResult } from '../protocol/events.js';
import { DELIVERY_BATCH } from '../protocol/limits.js';
import type { AckPayload, SendPayload } from '../protocol/schemas.js';
import type { ServerConfig } from './config.js';
import type { ChatIO, ConnectionState, Started } from './connection.js';
import { DeliveryPump } from './delivery.js';
import type { DeliveryNotifier, RoomPumps } from './delivery-notifier.js';
import type { PresenceRegistry } from './presence.js';
import { userRoom } from './rooms.js';
import { PRIMARY_DEVICE, settledId, type Receipt, type ServerStore, type Settlement } from './store/server-store.js';

/**
 * A receipt as v1 words it, or undefined for a `removed` one: that status is owed only for a copy to a
 * device other than 1 (design §8.2), which no v1 connection can write to (§5.9).
 */
function toReceiptEvent(r: Receipt): ReceiptEvent | undefined {
  if (r.status === 'removed') return undefined;
  return {
    id: r.id,
    clientId: r.clientId,
    to: r.recipient,
    deliveredAt: r.deliveredAt,
    status: r.status,
    ...(r.status === 'unreadable' && r.reason && { reason: r.reason }),
  };
}

export interface RelayDeps {
  config: ServerConfig;
  store: ServerStore;
  io: ChatIO;
  presence: PresenceRegistry;
  /** Wakes the recipient's connections when an envelope for them is stored. */
  notifier: DeliveryNotifier;
  /** This node's delivery pumps, by user. */
  pumps: RoomPumps;
  logger: Logger;
}

export class Relay {
  private readonly config: ServerConfig;
  private readonly store: ServerStore;
  private readonly io: ChatIO;
  private readonly presence: PresenceRegistry;
  private readonly notifier: DeliveryNotifier;
  private readonly pumps: RoomPumps;
  private readonly logger: Logger;

  constructor(deps: RelayDeps) {
    this.config = deps.config;
    this.store = deps.store;
    this.io = deps.io;
    this.presence = deps.presence;
    this.notifier = deps.notifier;
    this.pumps = deps.pumps;
    this.logger = deps.logger;
  }

  /** A connection just logged in: start its delivery pump and hand it the receipts it is owed. */
  attach(conn: ConnectionState): void {
    const username = conn.username!;
    const pump = new DeliveryPump(
      this.store,
      username,
      PRIMARY_DEVICE, // every connection speaks v1 and is device 1 of its user (design §5.9)
      (m) => conn.socket.emit('message', m),
      (err) => this.logger.error({ err, user: username }, 'delivery failed'),
      Date.now,
      (count) => conn.socket.emit('backlog.end', { count }),
    );
    conn.socket.data.pump = pump;
    pump.start();
    void this.sendOwedReceipts(conn).catch((err: unknown) => this.logger.error({ err, user: username }, 'receipt delivery failed'));
  }

  detach(conn: ConnectionState): void {
    conn.socket.data.pump?.stop();
    delete conn.socket.data.pump;
  }

  private async sendOwedReceipts(conn: ConnectionState): Promise<void> {
    let after = 0;
    for (;;) {
      const batch = await this.store.pendingReceipts(conn.username!, PRIMARY_DEVICE, after, DELIVERY_BATCH);
      for (const r of batch) {
        const event = toReceiptEvent(r);
        if (event) conn.socket.emit('receipt', event);
      }
      if (batch.length < DELIVERY_BATCH || !conn.socket.connected) return;
      after = batch[batch.length - 1]!.seq;
    }
  }

  /**
   * `submitted` settles once the envelope is queued for the store in this connection's order; `result`
   * once it is durably stored (or refused).
   */
  send(conn: ConnectionState, p: SendPayload): Started<SendResult> {
    let markSubmitted!: () => void;
    const submitted = new Promise<void>((resolve) => (markSubmitted = resolve));
    const result = this.accept(conn, p, markSubmitted).finally(markSubmitted);
    return { submitted, result };
  }

  /**
   * Size first, before the schema: an over-size envelope is `envelope_too_large` whatever else is wrong
   * with it (a client then knows that shortening the message is the fix), and the schema's regular
   * expressions never run over it.
   */
  checkEnvelopeSize(raw: unknown): void {
    if (typeof raw !== 'object' || raw === null || !('envelope' in raw)) return;
    const envelope: unknown = raw.envelope;
    if (typeof envelope !== 'object' || envelope === null) return;
    this.refuseIfTooLarge(JSON.stringify(envelope).length);
  }

  private refuseIfTooLarge(bytes: number): void {
    if (bytes > this.config.maxEnvelopeBytes) {
      throw new ChatError('envelope_too_large', `envelope: ${bytes} bytes; the limit is ${this.config.maxEnvelopeBytes}`);
    }
  }

  private async accept(conn: ConnectionState, p: SendPayload, submitted: () => void): Promise<SendResult> {
    const envelope = JSON.stringify(p.envelope);
    this.refuseIfTooLarge(envelope.length);
    if (!(await this.presence.isOnline(p.to)) && !(await this.store.getUser(p.to))) {
      throw new ChatError('unknown_user', `no user named "${p.to}"`);
    }
    const id = newServerId();
    const sentAt = Date.now();
    // Pushed to the recipient as soon as it is committed, while the disk catches up: if the server dies
    // before the write is durable, the sender (never acked) resends and the recipient's client
    // recognises the id. The sender's ack waits for durability.
    let pushed = false;
    const stored = this.store.enqueue(
      {
        id,
        sender: conn.username!, // the authenticated identity, never anything in the payload
        senderDevice: PRIMARY_DEVICE,
        recipient: p.to,
        recipientDevice: PRIMARY_DEVICE,
        clientId: p.id ?? id,
        sentAt,
        expiresAt: sentAt + this.config.queueTtlMs,
        envelope,
      },
      {
        maxCount: this.config.queueMaxCount,
        maxBytes: this.config.queueMaxBytes,
        userMaxBytes: this.config.userQueueMaxBytes,
        senderMaxCount: this.config.senderQueueMaxCount,
        senderMaxBytes: this.config.senderQueueMaxBytes,
        serverMaxBytes: this.config.serverQueueMaxBytes,
      },
      (result) => {
        if (result.status === 'stored') pushed = this.notifier.stored(result.message, p.envelope);
      },
    );
    submitted();
    const result = await stored;
    if (result.status === 'quota_exceeded' || result.status === 'sender_quota_exceeded' || result.status === 'server_full') {
      throw new ChatError(result.status, result.message);
    }
    // 'delivered' (on the wire since 0.1; it means pushed) only when a connected device took it at once;
    // 'queued' when every device is offline, behind on its backlog or has a full delivery window. A
    // duplicate stored nothing: its status says whether a device of the recipient is connected.
    if (result.status === 'duplicate') {
      return { id: result.id, sentAt: result.sentAt, status: (await this.presence.isOnline(p.to)) ? 'delivered' : 'queued', duplicate: true };
    }
    return { id, sentAt, status: pushed ? 'delivered' : 'queued' };
  }

  /**
   * Pipelined like `send`. Delivery windows are freed and receipts pushed as soon as the deletion is
   * committed: if the server dies before it is durable, the envelopes are delivered again and the
   * recipient's client recognises them.
   */
  ack(conn: ConnectionState, p: AckPayload): Started<AckResult> {
    const username = conn.username!;
    // A rejected envelope leaves the queue like a stored one: the device is done with it either way.
    const settled: Settlement[] = [...(p.ids ?? []), ...(p.rejected ?? [])];
    const ids = settled.map(settledId);
    const now = Date.now();
    const deleted =
      settled.length === 0
        ? Promise.resolve([])
        : this.store.acknowledge(username, PRIMARY_DEVICE, settled, now, now + this.config.queueTtlMs, (receipts) => {
            // Every device of this user may hold these in flight: free their windows too. (On other nodes
            // a device's window is freed by its own ack of the same ids: the store answers it as done.)
            this.pumps.acknowledged(username, ids);
            for (const r of receipts) {
              const event = toReceiptEvent(r);
              if (event) this.io.to(userRoom(r.sender)).emit('receipt', event);
            }
          });
    const forgotten = p.receipts && p.receipts.length > 0 ? this.store.acknowledgeReceipts(username, PRIMARY_DEVICE, p.receipts) : Promise.resolve();
    const result = Promise.all([deleted, forgotten]).then(([receipts]) => ({ acknowledged: receipts.length }));
    // Both writes are queued for the store by now, in this connection's order.
    return { submitted: Promise.resolve(), result };
  }


  async sweep(): Promise<void> {
    const removed = await this.store.sweepExpired(Date.now());
    if (removed > 0) this.logger.info({ removed }, 'swept expired envelopes');
  }
}
