/**
 * Store-and-forward: every envelope is stored durably before `send` is acknowledged, pushed to the
 * recipient device's connections, and deleted only when that device acknowledges it; the sending address
 * then gets a delivery receipt. Offline devices get their backlog on login, oldest first, with flow
 * control. Receipts go to the sending address's room through the adapter; envelopes reach the recipient
 * address's connections through the DeliveryNotifier (delivery-notifier.ts), so neither depends on where
 * a device is connected. This module holds what both protocols share (delivery, `ack`) and protocol 1's
 * `send`; protocol 2's is send-v2.ts.
 */
import type { Logger } from 'pino';
import { newServerId } from './ids.js';
import { ChatError } from '../protocol/errors.js';
import type { AckResult, IncomingMessage, SendResult } from '../protocol/events.js';
import type { IncomingMessageV2 } from '../protocol/events-v2.js';
import type { AckPayload, SendPayload } from '../protocol/schemas.js';
import type { ServerConfig } from './config.js';
import type { ChatIO, ConnectionState, Started } from './connection.js';
import { DeliveryPump } from './delivery.js';
import { emitDelivery, GroupDeliveryReader } from './group-delivery.js';
import type { DeliveryNotifier, RoomPumps } from './delivery-notifier.js';
import { checkedLists, isSingleDevice, LISTS_CHANGED_ATTEMPTS, listsKeptChanging, queueQuota } from './device-sets.js';
import { recordActivity } from './last-seen.js';
import type { ServerMetrics } from './metrics.js';
import type { PresenceRegistry } from './presence.js';
import { pushReceipts, sendOwedReceipts } from './receipts.js';
import { type CheckedLists, type EnqueueResult, PRIMARY_DEVICE, type SendContext, settledId, type ServerStore, type Settlement } from './store/server-store.js';

/** Protocol 1's `message`: protocol 2's without the device ids, exactly as protocol-1 clients always got it. */
function messageV1({ fromDevice: _from, toDevice: _to, ...message }: IncomingMessageV2): IncomingMessage {
  return message;
}

export interface RelayDeps {
  config: ServerConfig;
  store: ServerStore;
  io: ChatIO;
  presence: PresenceRegistry;
  /** Wakes the recipient's connections when an envelope for them is stored. */
  notifier: DeliveryNotifier;
  /** This node's delivery pumps, by address. */
  pumps: RoomPumps;
  logger: Logger;
  metrics: ServerMetrics;
}

export class Relay {
  private readonly config: ServerConfig;
  private readonly store: ServerStore;
  private readonly io: ChatIO;
  private readonly presence: PresenceRegistry;
  private readonly notifier: DeliveryNotifier;
  private readonly pumps: RoomPumps;
  private readonly logger: Logger;
  private readonly metrics: ServerMetrics;

  constructor(deps: RelayDeps) {
    this.config = deps.config;
    this.store = deps.store;
    this.io = deps.io;
    this.presence = deps.presence;
    this.notifier = deps.notifier;
    this.pumps = deps.pumps;
    this.logger = deps.logger;
    this.metrics = deps.metrics;
  }

  /** A connection just logged in: start its address's delivery pump and hand it the receipts it is owed. */
  attach(conn: ConnectionState): void {
    const username = conn.username!;
    const emit = conn.protocol === 1 ? (m: IncomingMessageV2) => conn.socket.emit('message', messageV1(m)) : (m: IncomingMessageV2) => conn.socket.emit('message', m);
    const pump = new DeliveryPump(
      // Group references in the queue are read as the entries they name (group-delivery.ts).
      new GroupDeliveryReader(this.store),
      username,
      conn.device!, // a protocol-1 connection is device 1 and receives device 1's copies only (design §5.9)
      (m) => {
        this.metrics.messageDelivered();
        emitDelivery(conn.socket, m, emit);
      },
      (err) => this.logger.error({ err, user: username }, 'delivery failed'),
      Date.now,
      (count) => conn.socket.emit('backlog.end', { count }),
    );
    conn.socket.data.pump = pump;
    pump.start();
    const owedReceipts = () => void sendOwedReceipts(this.store, conn).catch((err: unknown) => this.logger.error({ err, user: username }, 'receipt delivery failed'));
    conn.socket.data.owedReceipts = owedReceipts;
    owedReceipts();
  }

  detach(conn: ConnectionState): void {
    conn.socket.data.pump?.stop();
    delete conn.socket.data.pump;
    delete conn.socket.data.owedReceipts;
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
    const sender = conn.username!; // the authenticated identity, never anything in the payload
    // The recipient and both device lists in one read (one round trip on PostgreSQL); a recipient the
    // store does not know may still be online (presence is asked only then), as before.
    const context = await this.store.sendContext(sender, p.to);
    if (!context.recipientExists && !(await this.presence.isOnline(p.to))) {
      throw new ChatError('unknown_user', `no user named "${p.to}"`);
    }
    let checked = await this.refuseUnlessSingleDevice(sender, p, context);
    if ('earlier' in checked) return checked.earlier;
    const id = newServerId();
    const sentAt = Date.now();
    // Pushed to the recipient as soon as it is committed, while the disk catches up: if the server dies
    // before the write is durable, the sender (never acked) resends and the recipient's client
    // recognises the id. The sender's ack waits for durability.
    let pushed = false;
    const input = {
      id,
      sender,
      senderDevice: PRIMARY_DEVICE,
      recipient: p.to,
      recipientDevice: PRIMARY_DEVICE,
      clientId: p.id ?? id,
      sentAt,
      expiresAt: sentAt + this.config.queueTtlMs,
      envelope,
    };
    const onCommit = (result: EnqueueResult) => {
      if (result.status === 'stored') pushed = this.notifier.stored(result.message, p.envelope);
    };
    let result: EnqueueResult;
    for (let attempt = 1; ; attempt++) {
      const stored = this.metrics.timed('enqueue', this.store.enqueue(input, queueQuota(this.config), onCommit, checked.lists));
      if (attempt === 1) submitted();
      result = await stored;
      if (result.status !== 'lists_changed') break;
      // A device list was published between the check and the send's transaction: check again.
      if (attempt === LISTS_CHANGED_ATTEMPTS) throw listsKeptChanging();
      checked = await this.refuseUnlessSingleDevice(sender, p, await this.store.sendContext(sender, p.to));
      if ('earlier' in checked) return checked.earlier;
    }
    if (result.status === 'quota_exceeded' || result.status === 'sender_quota_exceeded' || result.status === 'server_full') {
      throw new ChatError(result.status, result.message);
    }
    // 'delivered' (on the wire since 0.1; it means pushed) only when a connected device took it at once;
    // 'queued' when every device is offline, behind on its backlog or has a full delivery window. A
    // duplicate stored nothing: its status says whether a device of the recipient is connected.
    if (result.status === 'duplicate') return this.duplicate(p.to, result);
    return { id, sentAt, status: pushed ? 'delivered' : 'queued' };
  }

  private async duplicate(to: string, first: { id: string; sentAt: number }): Promise<SendResult> {
    return { id: first.id, sentAt: first.sentAt, status: (await this.presence.isOnline(to)) ? 'delivered' : 'queued', duplicate: true };
  }

  /**
   * A protocol-1 `send` is one copy, device 1 to device 1, so it is accepted only where that is the
   * whole conversation: `cur(to) = {1}` and `cur(sender) = {1}` (design §5.9); else `upgrade_required`.
   * A resend of a copy accepted before (its idempotency record still there) is answered as the duplicate
   * it is, as every duplicate is answered before the device set is looked at (§5.5.1).
   */
  private async refuseUnlessSingleDevice(sender: string, p: SendPayload, context: SendContext): Promise<{ lists: CheckedLists } | { earlier: SendResult }> {
    const { recipientList: toList, senderList } = context;
    if (isSingleDevice(toList) && isSingleDevice(senderList)) return { lists: checkedLists([p.to, toList], [sender, senderList]) };
    if (p.id !== undefined) {
      const [first] = await this.store.acceptedCopies(sender, PRIMARY_DEVICE, p.id, [{ recipient: p.to, recipientDevice: PRIMARY_DEVICE }]);
      if (first) return { earlier: await this.duplicate(p.to, first) };
    }
    throw new ChatError(
      'upgrade_required',
      isSingleDevice(toList)
        ? `${sender} uses several devices; update e2ee-chat on this one to write from it`
        : `${p.to} uses several devices; update e2ee-chat to write to them`,
    );
  }

  /**
   * Pipelined like `send`. Delivery windows are freed and receipts pushed as soon as the deletion is
   * committed: if the server dies before it is durable, the envelopes are delivered again and the
   * recipient's client recognises them.
   */
  ack(conn: ConnectionState, p: AckPayload): Started<AckResult> {
    const username = conn.username!;
    const device = conn.device!; // an ack settles this address's copies only (design §5.6)
    // A rejected envelope leaves the queue like a stored one: the device is done with it either way.
    const settled: Settlement[] = [...(p.ids ?? []), ...(p.rejected ?? [])];
    const ids = settled.map(settledId);
    const now = Date.now();
    recordActivity(this.store, conn, now, this.logger);
    const deleted =
      settled.length === 0
        ? Promise.resolve([])
        : this.metrics.timed(
            'acknowledge',
            this.store.acknowledge(username, device, settled, now, now + this.config.queueTtlMs, (receipts) => {
              // Every connection of this address may hold these in flight: free their windows too. (On
              // other nodes a connection's window is freed by its own ack of the same ids: the store answers
              // it as done.)
              this.pumps.acknowledged(username, device, ids);
              pushReceipts(this.io, receipts);
            }),
          );
    const forgotten = p.receipts && p.receipts.length > 0 ? this.store.acknowledgeReceipts(username, device, p.receipts) : Promise.resolve();
    const result = Promise.all([deleted, forgotten]).then(([receipts]) => ({ acknowledged: receipts.length }));
    // Both writes are queued for the store by now, in this connection's order.
    return { submitted: Promise.resolve(), result };
  }

  async sweep(): Promise<void> {
    const removed = await this.store.sweepExpired(Date.now());
    if (removed > 0) this.logger.info({ removed }, 'swept expired envelopes');
  }
}
