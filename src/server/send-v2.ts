/**
 * Protocol 2's `send` (design §5.5, PROTOCOL.md §19.7): one message as one copy per device, for every
 * device of the recipient and every other device of the sender, stored all or nothing. Checks, the first
 * failure answering and a refused send storing nothing (§5.5.1):
 *   1. each envelope's size (`envelope_too_large`), before the schema (`precheck`);
 *   2. shape (`bad_request`): the schema, then the rules that need the connection (one recipient besides
 *      the sender, never the sending device itself);
 *   3. the recipient exists (`unknown_user`);
 *   4. every copy accepted before: answered from the idempotency records, nothing else checked;
 *   5. the device set (`devices_changed`, with every user's current list);
 *   6. quotas, in the order sender, device, user, server (in the store's transaction);
 *   7. every copy without a record stored in one transaction.
 * Steps 4 and 5 run in the other order and give the same answers: the records are read only for a send
 * the device set refuses, so an ordinary send costs no extra read (a send whose set is right and whose
 * copies were all accepted before stores nothing in step 7, and is answered from the records there).
 */
import { ChatError } from '../protocol/errors.js';
import type { Delivery, SendResultV2 } from '../protocol/events-v2.js';
import type { SendV2Payload } from '../protocol/v2-schemas.js';
import type { ServerConfig } from './config.js';
import type { ChatIO, ConnectionState, PipelinedHandlerOf, Started } from './connection.js';
import type { DeliveryNotifier } from './delivery-notifier.js';
import { checkedLists, currentDevices, deviceSetChanges, describeChanges, LISTS_CHANGED_ATTEMPTS, listsKeptChanging, queueQuota } from './device-sets.js';
import { newServerId } from './ids.js';
import type { ServerMetrics } from './metrics.js';
import type { PresenceRegistry } from './presence.js';
import { RefusalWithDetails } from './refusal.js';
import { addressRoom } from './rooms.js';
import type { AcceptedCopy, CheckedLists, EnqueueInput, EnqueueManyResult, SendContext, ServerStore } from './store/server-store.js';

export interface SendV2Deps {
  config: ServerConfig;
  store: ServerStore;
  io: ChatIO;
  presence: PresenceRegistry;
  notifier: DeliveryNotifier;
  metrics: ServerMetrics;
}

/**
 * Step 2's rules beyond the schema: the one user besides the sender that the copies may name (the
 * sender itself when there is none: notes to self, history), and never the sending address.
 */
function recipientOf(sender: string, me: number, messages: SendV2Payload['messages']): string {
  let recipient: string | undefined;
  messages.forEach((m, i) => {
    if (m.to === sender) {
      if (m.device === me) throw new ChatError('bad_request', `messages.${i}.device: a send never names the sending device itself`);
      return;
    }
    if (recipient !== undefined && m.to !== recipient) {
      throw new ChatError('bad_request', `messages.${i}.to: a send names one recipient besides the sender`);
    }
    recipient = m.to;
  });
  return recipient ?? sender;
}

export class SendV2 {
  constructor(private readonly deps: SendV2Deps) {}

  readonly handler: PipelinedHandlerOf<SendV2Payload, SendResultV2> = {
    precheck: (raw) => this.checkEnvelopeSizes(raw),
    start: (conn, p) => this.start(conn, p),
  };

  /**
   * Sizes first, before the schema: an over-size envelope is `envelope_too_large` whatever else is wrong
   * (a client then knows that shortening the message is the fix), and the schema's regular expressions
   * never run over it. Each envelope is measured on its own against the cap.
   */
  private checkEnvelopeSizes(raw: unknown): void {
    if (typeof raw !== 'object' || raw === null || !('messages' in raw) || !Array.isArray(raw.messages)) return;
    const max = this.deps.config.maxEnvelopeBytes;
    (raw.messages as unknown[]).forEach((m, i) => {
      if (typeof m !== 'object' || m === null || !('envelope' in m)) return;
      const envelope: unknown = m.envelope;
      if (typeof envelope !== 'object' || envelope === null) return;
      const bytes = JSON.stringify(envelope).length;
      if (bytes > max) throw new ChatError('envelope_too_large', `messages.${i}.envelope: ${bytes} bytes; the limit is ${max}`);
    });
  }

  /** `submitted` settles once the copies are queued for the store in this connection's order; `result` once stored (or refused). */
  private start(conn: ConnectionState, p: SendV2Payload): Started<SendResultV2> {
    let markSubmitted!: () => void;
    const submitted = new Promise<void>((resolve) => (markSubmitted = resolve));
    const result = this.accept(conn, p, markSubmitted).finally(markSubmitted);
    return { submitted, result };
  }

  /**
   * The device-set rule (§5.5.4) against the lists stored now: the versions it read, for the store to
   * compare in the send's transaction; or the answer to a send whose copies were all accepted before;
   * or `devices_changed` (thrown).
   */
  private async checkDeviceSet(sender: string, me: number, recipient: string, p: SendV2Payload, context: SendContext): Promise<{ lists: CheckedLists } | SendResultV2> {
    const { store } = this.deps;
    const { recipientList, senderList } = context;
    // A device removed from its user's list is disconnected at the removal, but a send it had in flight
    // (or one racing the removal) must not be stored as if it still spoke for its user.
    if (!currentDevices(senderList).includes(me)) throw new ChatError('unknown_device', `${sender}/${me} is no longer one of ${sender}'s devices`);
    const changes = deviceSetChanges({ sender, me, recipient, copies: p.messages, recipientList, senderList });
    if (changes) {
      const earlier = await store.acceptedCopies(sender, me, p.id, p.messages.map((m) => ({ recipient: m.to, recipientDevice: m.device })));
      if (earlier.every((e) => e !== undefined)) return { deliveries: await this.duplicates(p, earlier as AcceptedCopy[]) };
      throw new RefusalWithDetails('devices_changed', describeChanges(changes), { users: changes });
    }
    return { lists: checkedLists([recipient, recipientList], [sender, senderList]) };
  }

  private async accept(conn: ConnectionState, p: SendV2Payload, submitted: () => void): Promise<SendResultV2> {
    const { config, store, presence, notifier } = this.deps;
    const sender = conn.username!; // the authenticated address, never anything in the payload
    const me = conn.device!;
    const recipient = recipientOf(sender, me, p.messages);
    // The recipient and both device lists in one read (one round trip on PostgreSQL); a recipient the
    // store does not know may still be online (presence is asked only then), as before.
    const context = await store.sendContext(sender, recipient);
    if (recipient !== sender && !context.recipientExists && !(await presence.isOnline(recipient))) {
      throw new ChatError('unknown_user', `no user named "${recipient}"`);
    }
    let checked = await this.checkDeviceSet(sender, me, recipient, p, context);
    if ('deliveries' in checked) return checked;
    const sentAt = Date.now();
    const inputs = p.messages.map(
      (m): EnqueueInput => ({
        id: newServerId(),
        sender,
        senderDevice: me,
        recipient: m.to,
        recipientDevice: m.device,
        clientId: p.id,
        sentAt,
        expiresAt: sentAt + config.queueTtlMs,
        envelope: JSON.stringify(m.envelope),
      }),
    );
    // Each new copy is pushed to its address as soon as the send is committed, while the disk catches
    // up (as protocol 1 does); the answer waits for durability.
    const pushed = new Set<number>();
    const onCommit = (result: EnqueueManyResult) => {
      if (result.status !== 'accepted') return;
      result.copies.forEach((c, k) => {
        if (c.status === 'stored' && notifier.stored(c.message, p.messages[k]!.envelope)) pushed.add(k);
      });
    };
    let result: EnqueueManyResult;
    for (let attempt = 1; ; attempt++) {
      const stored = this.deps.metrics.timed('enqueue_many', store.enqueueMany(inputs, queueQuota(config), onCommit, checked.lists));
      if (attempt === 1) submitted();
      result = await stored;
      if (result.status !== 'lists_changed') break;
      // A device list was published between the check and the send's transaction (a device added or
      // removed): check the set again, so no copy is stored for a set that is no longer current.
      if (attempt === LISTS_CHANGED_ATTEMPTS) throw listsKeptChanging();
      checked = await this.checkDeviceSet(sender, me, recipient, p, await store.sendContext(sender, recipient));
      if ('deliveries' in checked) return checked;
    }
    if (result.status === 'quota_exceeded' || result.status === 'sender_quota_exceeded') {
      throw new RefusalWithDetails(result.status, result.message, { to: result.to, device: result.device });
    }
    if (result.status !== 'accepted') throw new ChatError(result.status, result.message);
    const deliveries = await Promise.all(
      result.copies.map(async (c, k): Promise<Delivery> => {
        const { to, device } = p.messages[k]!;
        if (c.status === 'duplicate') return this.duplicate(to, device, c);
        // 'delivered' (it means pushed) when a connection of the address took the copy at once; 'queued'
        // when the device is offline, behind on its backlog or has a full delivery window.
        return { to, device, id: c.message.id, sentAt, status: pushed.has(k) ? 'delivered' : 'queued' };
      }),
    );
    return { deliveries };
  }

  private duplicates(p: SendV2Payload, earlier: readonly AcceptedCopy[]): Promise<Delivery[]> {
    return Promise.all(p.messages.map((m, k) => this.duplicate(m.to, m.device, earlier[k]!)));
  }

  /** A copy accepted before stored nothing now: its status says whether a connection of its address is there. */
  private async duplicate(to: string, device: number, first: AcceptedCopy): Promise<Delivery> {
    // Through the adapter, so a connection on another node counts too.
    const connected = (await this.deps.io.in(addressRoom(to, device)).fetchSockets()).length > 0;
    return { to, device, id: first.id, sentAt: first.sentAt, status: connected ? 'delivered' : 'queued', duplicate: true };
  }
}
