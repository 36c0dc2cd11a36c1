/**
 * The client library: connect, register or log in, pin peers' keys, send through a persisted outbox,
 * receive with exactly-once display, acknowledge, and learn of deliveries. The CLI commands are thin
 * shells over this class. Runtime-neutral: socket.io-client, jose and WebCrypto only, stores injected.
 *
 * A facade: it wires the parts together and turns their callbacks into events. The parts:
 * ServerConnection (login, calls, schema-checked events), PeerDirectory (keys bound to their question,
 * pins), MessageSealer and OutboxSender (sending), ReceiveLoop and Inbound (receiving), SessionManager
 * and PreKeyPublisher (ratchet sessions and prekeys). Listeners are isolated (TypedEmitter): one that
 * throws is reported as a debug event and changes nothing for the client or the other listeners.
 */
import { base64urlDecode, constantTimeEqual } from '../crypto/bytes.js';
import type { DeviceListWire } from '../protocol/device-list-wire.js';
import { safetyNumber } from '../e2ee/safety-number.js';
import { ChatError } from '../protocol/errors.js';
import type { UserKeys } from '../protocol/events.js';
import type { SessionResultV2 } from '../protocol/events-v2.js';
import { attachmentFallbackBody, type AttachmentPointer } from '../e2ee/attachment-pointer.js';
import { DEFAULT_MAX_ATTACHMENT_BYTES, DEFAULT_MAX_ENVELOPE_BYTES } from '../protocol/limits.js';
import { downloadAttachment, uploadAttachment, type AttachmentSink, type AttachmentSource } from './attachments.js';
import type { BlobHttp, Progress } from './blob-transfer.js';
import type { ChatClientEvents, ChatClientOptions } from './chat-client-types.js';
import { PRIMARY_DEVICE, type Address } from './address.js';
import { approveDevice, type ApproveOptions } from './device-approval.js';
import { approveWithHistory, type LinkedDevice } from './history-transfer.js';
import type { TriedLinkCodes } from './stores.js';
import { DeviceDirectory } from './device-directory.js';
import { deviceSecretsOf, type DeviceSecrets } from './device-secrets.js';
import { removeOwnDevice } from './device-removal.js';
import { MemoryTriedLinkCodes } from './memory-stores.js';
import { ownDevices, type OwnDevice } from './own-devices.js';
import { refreshDeviceSet } from './device-set-refresh.js';
import { TypedEmitter } from './emitter.js';
import { firstDeviceList } from './first-device-list.js';
import { withPrimaryIdentityKey } from './own-list-edits.js';
import { PeerDeviceLists } from './peer-device-lists.js';
import { toPinned } from './peer-keys.js';
import type { ReceivedMessage } from './inbound.js';
import { MessageQueue } from './message-queue.js';
import { MessageSealer } from './message-sealer.js';
import { OutboxSender, type SentMessage } from './outbox-sender.js';
import { PeerDirectory, type SeenKeys } from './peer-directory.js';
import { PreKeyPublisher } from './prekey-publisher.js';
import { ReadReceiptSender } from './read-receipts.js';
import { ReceiveLoop, type CaughtUp } from './receive-loop.js';
import { MemoryRatchetStore } from './ratchet-store.js';
import { SessionManager } from './session-manager.js';
import { ServerConnection } from './server-connection.js';
import type { GroupInfo } from './groups/group-manager.js';
import { LazyGroupManager } from './groups/lazy-group-manager.js';
import { wireGroupDelivery } from './groups/wire-group-delivery.js';
import type { MessageStore, PinnedPeer } from './stores.js';

export type { ChatClientEvents, ChatClientOptions, ClientIdentity } from './chat-client-types.js';
export type { DeliveredReceipt, ReadReceipt, ReceivedMessage, RejectedMessage, UnreadableReceipt } from './inbound.js';
export type { SentMessage } from './outbox-sender.js';
export type { SeenKeys } from './peer-directory.js';
export type { CaughtUp } from './receive-loop.js';
export type { OwnDevice } from './own-devices.js';
export type { ApprovedDevice, ApproveOptions, OfferedDevice } from './device-approval.js';
export type { LinkedDevice } from './history-transfer.js';
export type { HistoryReceived } from './history-inbound.js';
export type { AttachmentSink, AttachmentSource } from './attachments.js';
export type { AttachmentPointer } from '../e2ee/attachment-pointer.js';

/**
 * The envelope cap a login answer announces, if it is believable: within the range a server can be
 * configured with (1 KiB to 16 MiB). Anything else (absent, from servers before 0.2, or a lie) means
 * the protocol's default: a lying server can refuse or drop messages anyway, but not make us build
 * envelopes the transport would choke on or refuse every message.
 */
function envelopeLimitOf(session: SessionResultV2): number {
  const limit = (session as { limits?: { maxEnvelopeBytes?: unknown } }).limits?.maxEnvelopeBytes;
  return typeof limit === 'number' && Number.isInteger(limit) && limit >= 1024 && limit <= 16 * 1024 * 1024 ? limit : DEFAULT_MAX_ENVELOPE_BYTES;
}

/**
 * The attachment limit a login answer announces: absent (servers without files, or before 0.3) means
 * the protocol's default, so an old server refuses the file itself (`unknown_event`) rather than the
 * client guessing. Anything but a non-negative safe integer is treated as absent.
 */
function attachmentLimitOf(session: SessionResultV2): number {
  const limit = (session as { limits?: { maxAttachmentBytes?: unknown } }).limits?.maxAttachmentBytes;
  return typeof limit === 'number' && Number.isSafeInteger(limit) && limit >= 0 ? limit : DEFAULT_MAX_ATTACHMENT_BYTES;
}

/** Acks wait this long to be batched: short enough that redelivery after a crash stays small. */
export const DEFAULT_ACK_DELAY_MS = 20;

export class ChatClient extends TypedEmitter<ChatClientEvents> {
  readonly username: string;
  /** This device's id in the user's list (1: the primary). */
  readonly device: number;
  readonly mode: 'ratchet' | 'hybrid';
  private readonly connection: ServerConnection;
  private readonly directory: PeerDirectory;
  private readonly deviceDirectory: DeviceDirectory;
  private readonly identity: ChatClientOptions['identity'];
  /** This device's secrets, used only through their interface (sign, decrypt): never read as bytes. */
  private readonly secrets: DeviceSecrets;
  /** This device's sessions and identity (IK); sessions are kept only with a ratchet store (ratchet mode). */
  private readonly identitySessions: SessionManager;
  /** The login's own work before anything is sent: the user's own list (published if the server has none), then prekeys. */
  private loggedIn: Promise<void> = Promise.resolve();
  private readonly preKeys: PreKeyPublisher | null;
  private readonly sealer: MessageSealer;
  private readonly outbox: OutboxSender;
  private readonly receiver: ReceiveLoop;
  private readonly inbox = new MessageQueue<ReceivedMessage>();
  /** Read receipts going out; null when they are off. */
  private readonly readReceipts: ReadReceiptSender | null;
  private closed = false;
  /** This client stopped for good: removed from its user's list, or its name now bound to other keys (stopForGood). */
  private removed = false;
  /** Settles at the first `caughtUp` since this client was made (see caughtUp()). */
  private readonly firstCaughtUp: Promise<CaughtUp>;
  private markCaughtUp!: (c: CaughtUp) => void;
  /** The server's envelope cap from its latest login answer (servers before 0.2 do not say: the default). */
  private maxEnvelopeBytes = DEFAULT_MAX_ENVELOPE_BYTES;
  /** The server's largest file, from its latest login answer. */
  private attachmentLimit = DEFAULT_MAX_ATTACHMENT_BYTES;
  private readonly url: string;
  private readonly blobHttp: BlobHttp | undefined;
  private readonly peers: ChatClientOptions['peers'];
  private readonly messageStore: MessageStore;
  private readonly triedLinkCodes: TriedLinkCodes;
  /** This device's groups (MLS), their code loaded when a group first needs it; null without a group store. */
  private readonly groupManager: LazyGroupManager | null;
  /** The group upkeep a login started (KeyPackages, sync), which close() lets finish. */
  private groupUpkeep: Promise<void> = Promise.resolve();

  private constructor(options: ChatClientOptions) {
    // A listener that throws is reported here; a throwing debug listener has nowhere left to be reported.
    super((event, cause) => {
      if (event !== 'debug') this.emit('debug', { message: `a "${event}" listener threw; the client went on`, cause });
    });
    this.username = options.identity.username;
    this.device = options.identity.device ?? PRIMARY_DEVICE;
    this.firstCaughtUp = new Promise((resolve) => (this.markCaughtUp = resolve));
    this.mode = options.mode ?? 'ratchet';
    this.url = options.url;
    this.blobHttp = options.blobHttp;
    this.peers = options.peers;
    this.messageStore = options.messages;
    this.triedLinkCodes = options.triedLinkCodes ?? new MemoryTriedLinkCodes();
    // Checked at run time too, for callers without TypeScript: a silent in-memory default would lose sessions.
    if (this.mode === 'ratchet' && !options.ratchet) {
      throw new TypeError('ChatClient: ratchet mode (the default) needs a `ratchet` store, e.g. SqliteRatchetStore or MemoryRatchetStore');
    }
    // A hybrid client without a store still has a device identity (its list entry names IK, §17.2); kept
    // in memory, it only ever serves the first list, since such a client publishes no prekeys.
    const ratchetStore = options.ratchet ?? new MemoryRatchetStore();
    const keepsSessions = options.ratchet !== undefined;
    const debug = (message: string, cause?: unknown) => this.emit('debug', { message, cause });
    const secrets = (this.secrets = deviceSecretsOf(options.identity.keys));
    this.connection = new ServerConnection({ ...options, identity: { ...options.identity, keys: secrets } }, {
      onAuthenticated: (first, session) => {
        this.maxEnvelopeBytes = envelopeLimitOf(session);
        this.attachmentLimit = attachmentLimitOf(session);
        if (!first) this.emit('reconnected', { username: this.username });
        this.loggedIn = this.afterLogin(session.registered);
      },
      onDisconnected: (reason) => {
        this.directory.forgetChecked();
        this.deviceDirectory.forgetAsked();
        this.receiver.connectionLost();
        this.emit('disconnected', { reason });
      },
      firstDeviceList: async () => this.firstList(await sessionsForIdentity.identityKey()),
      // Refusals for good: `unknown_device` (this device is not in its user's list any more), or the name
      // bound to other keys on the server.
      onRefused: (error) => (error.code === 'unknown_device' ? this.wasRemoved(error) : this.stopForGood(() => this.emit('refused', { error }))),
      onDebug: debug,
    });
    const directory = (this.directory = new PeerDirectory(this.connection, options.peers));
    let ownPin: ReturnType<typeof toPinned> | undefined;
    const identity = (this.identity = options.identity);
    const devices = (this.deviceDirectory = new DeviceDirectory(
      this.connection,
      directory,
      new PeerDeviceLists(options.peers, keepsSessions ? ratchetStore : null, (user, list) => this.groupManager?.deviceListChanged(user, list).catch((cause: unknown) => debug(`groups could not follow the new list of "${user}"`, cause))),
      {
        username: this.username,
        device: this.device,
        pin: () =>
          (ownPin ??= toPinned(
            {
              username: this.username,
              signingKey: (identity.account?.signingKey ?? secrets.signingPublicJwk) as UserKeys['signingKey'],
              encryptionKey: (identity.account?.encryptionKey ?? secrets.encryptionPublicJwk) as UserKeys['encryptionKey'],
              registeredAt: 0,
            },
            0,
          )),
      },
      options.peers,
    ));
    const sessionsForIdentity = (this.identitySessions = new SessionManager({
      store: ratchetStore,
      signingKey: secrets.signing,
      fetchBundle: (address) => devices.fetchBundle(address),
      onPreKeysConsumed: () => void this.publishPreKeys(),
    }));
    const sessions = keepsSessions ? sessionsForIdentity : null;
    this.preKeys = sessions ? new PreKeyPublisher(ratchetStore, secrets.signing, this.connection, (work) => sessions.withKeysLocked(work)) : null;
    const { groups, groupHistory } = options;
    // The types require both; a caller past them would otherwise lose every group text at its next start.
    if (groups && !groupHistory) throw new TypeError('options.groups needs options.groupHistory: the texts a group brings are recorded there');
    this.groupManager = groups && groupHistory
      ? new LazyGroupManager({
          self: { user: this.username, device: this.device },
          signingKey: secrets.signing,
          store: groups,
          history: groupHistory,
          delivery: wireGroupDelivery(this.connection),
          lists: { held: (u) => devices.held(u), refresh: (u) => devices.refresh(u) },
          events: {
            message: (e) => this.emit('groupMessage', e),
            membership: (e) => this.emit('groupMembership', e),
            refused: (e) => this.emit('groupRefused', e),
            debug,
          },
        })
      : null;
    this.sealer = new MessageSealer({
      username: this.username,
      device: this.device,
      sessions: this.mode === 'ratchet' ? sessions : null,
      messages: options.messages,
      directory,
      devices,
      signingKey: secrets.signing,
      online: () => this.connection.authenticated,
      maxEnvelopeBytes: () => this.maxEnvelopeBytes,
    });
    this.outbox = new OutboxSender(
      options.messages,
      this.connection,
      {
        sent: (m) => this.emit('sent', m),
        failed: (f) => this.emit('failed', f),
        debug,
      },
      () => this.maxEnvelopeBytes,
      (entry, refusal) => refreshDeviceSet(entry, refusal.details, { username: this.username, devices, sealer: this.sealer, messages: options.messages }),
    );
    this.readReceipts =
      options.readReceipts === false
        ? null
        : new ReadReceiptSender({
            seal: async (to, receipt) => {
              const id = await this.sealer.seal(to, '', { receipt });
              this.outbox.flush();
              return id;
            },
            debug,
          });
    this.receiver = new ReceiveLoop(
      this.connection,
      {
        username: this.username,
        device: this.device,
        messages: options.messages,
        peers: options.peers,
        sessions,
        peerKeys: (u) => directory.peerKeys(u),
        deviceKeys: (address) => devices.deviceKeys(address, { refresh: true }),
        refreshDeviceKeys: async (address) => {
          await devices.refresh(address.user);
          return devices.deviceKeys(address);
        },
        fetchKeys: (u) => directory.fetchKeys(u),
        decryptionKey: () => secrets.decryptionKey(),
        onMessage: (m) => {
          this.emit('message', m);
          this.inbox.push(m);
        },
        onRejected: (r) => this.emit('rejected', r),
        onDelivered: (d) => this.emit('delivered', d),
        onUnreadable: (u) => this.emit('unreadable', u),
        onRead: (r) => this.emit('read', r),
        onHistory: (h) => this.emit('history', h),
        onCaughtUp: (c) => {
          this.markCaughtUp(c);
          this.emit('caughtUp', c);
        },
        onDebug: debug,
        ...(this.groupManager && { groups: this.groupManager }),
      },
      options.ackDelayMs ?? DEFAULT_ACK_DELAY_MS,
    );
    this.connection.onEvent('presence', (p) => this.emit('presence', p));
    this.connection.onEvent('protocol_error', (e) =>
      debug(`the server refused an event sent without an ack ("${e.event}")`, new ChatError(e.error.code, e.error.message)),
    );
    // Bundle fetches ran our one-time prekeys low: refill now, not at the next login. The payload is not
    // needed (publishPreKeys asks the server for its counts), so its content changes nothing.
    this.connection.onEvent('prekeys.low', () => void this.publishPreKeys());
    // Claims ran this device's one-time KeyPackages low: refill (the count is asked again, the payload is not needed).
    this.connection.onEvent('mls.keypackages.low', () => void this.upkeepGroups(false));
    // The user's own list changed (a device linked or removed): take the new one in, verified like any.
    this.connection.onEvent('devices.changed', (e) => {
      if (e.username !== this.username) return debug(`ignored "devices.changed" for another user (${e.username})`);
      devices.refresh(this.username).catch((cause: unknown) => debug('could not take in the new device list', cause));
    });
    // Only our own address counts: a word about another address (another user's device, or another of
    // ours) must not stop us, whoever sent it. Believing the server about our own removal costs nothing:
    // a lying server can refuse us service anyway (it can simply disconnect us, or refuse every login).
    this.connection.onEvent('device.removed', (e) => {
      if (e.username !== this.username || e.device !== this.device) return debug(`the server says ${e.username}/${e.device} was removed (list version ${e.version})`);
      this.wasRemoved(new ChatError('unknown_device', `this device (${e.username}/${e.device}) was removed from the device list of "${e.username}" (list version ${e.version})`));
    });
  }

  /**
   * This device is out of its user's list: the connection stops for good (every login would be refused),
   * the local stores stay as they are (history kept; sends wait in the outbox, as offline), and `removed`
   * is emitted, once.
   */
  private wasRemoved(error: ChatError): void {
    this.stopForGood(() => this.emit('removed', { username: this.username, device: this.device, error }));
  }

  /** Stops the connection for good, once, then says why (`tell`); stores stay as they are. */
  private stopForGood(tell: () => void): void {
    if (this.removed) return;
    this.removed = true;
    this.connection.close();
    // Nothing will take the acknowledgements waiting to go (a removed device's queue is gone with it).
    this.receiver.connectionLost();
    tell();
  }

  /** The account's first list (version 1, this primary alone, naming `identityKey` as IK_1), signed now. */
  private firstList(identityKey: Uint8Array): Promise<DeviceListWire> {
    const { secrets } = this;
    return firstDeviceList({ username: this.username, signingKey: secrets.signing, encryptionKey: secrets.encryptionPublicJwk, identityKey, now: Date.now() });
  }

  /**
   * A login's own work, before the outbox goes out: the user's own list, taken in (the primary of an
   * account registered before devices publishes version 1 first, §21.1), then the prekeys.
   */
  private async afterLogin(registered: boolean): Promise<void> {
    try {
      if (registered) await this.deviceDirectory.registered();
      const own = await this.deviceDirectory.refresh(this.username);
      if (this.device === PRIMARY_DEVICE) {
        const identityKey = await this.identitySessions.identityKey();
        const listed = own?.devices.find((d) => d.deviceId === PRIMARY_DEVICE)?.identityKey;
        let deviceList: DeviceListWire | undefined;
        if (own === null) {
          deviceList = await this.firstList(identityKey);
        } else if (listed && !constantTimeEqual(listed, identityKey)) {
          // This device's prekey identity was remade (its ratchet store lost): the list names the new IK.
          deviceList = await withPrimaryIdentityKey(own, identityKey, this.secrets.signing, Date.now());
        }
        if (deviceList) {
          await this.connection.call('devices.publish', { deviceList });
          await this.deviceDirectory.refresh(this.username);
        }
      }
    } catch (cause) {
      this.emit('debug', { message: 'could not take in or publish this user\'s own device list', cause });
    }
    await this.publishPreKeys();
    this.outbox.flush();
    // After the outbox, and not awaited: making KeyPackages (X-Wing keys) and syncing groups must hold back
    // neither what waits to go out nor the login (commands attach their listeners once connected, and a
    // login that waited on this let the backlog be announced before they listened). close() waits for it.
    this.groupUpkeep = this.upkeepGroups(true);
  }

  /**
   * Keeps this device's KeyPackages published and, after a login, syncs every group it is in (a commit
   * of ours whose answer was lost is found in the log there). Failures are reported, never thrown.
   */
  private async upkeepGroups(afterLogin: boolean): Promise<void> {
    if (!this.groupManager || !this.connection.authenticated) return;
    try {
      await this.groupManager.keyPackages.maintain();
      if (afterLogin) await this.groupManager.catchUpAll();
    } catch (cause) {
      this.emit('debug', { message: 'group upkeep (KeyPackages, sync) failed', cause });
    }
  }

  /**
   * Resolves once the group upkeep of the latest login is done: this device's KeyPackages are on the server
   * (others can add it to groups) and its groups are synced. A login does not wait for it.
   */
  groupsReady(): Promise<void> {
    return this.groupUpkeep;
  }

  private get groupsOrFail(): LazyGroupManager {
    if (!this.groupManager) throw new ChatError('bad_request', 'this client keeps no groups: it was made without a group store (options.groups)');
    return this.groupManager;
  }

  /**
   * Creates a group of this user's devices and every device of `members` (their lists as this client
   * verifies them), named `name` inside the group (every member sees it; the server does not). Returns
   * its id. A member without KeyPackages yet is left out (a debug event says so); addToGroup adds them later.
   */
  async createGroup(name: string | undefined, members: readonly string[]): Promise<string> {
    return this.groupsOrFail.createGroup(name, members);
  }

  /** Adds every device of `users` not yet in the group. False: nothing to add. */
  async addToGroup(groupId: string, users: readonly string[]): Promise<boolean> {
    return this.groupsOrFail.addUsers(groupId, users);
  }

  /** Removes every device of `users`. False: none was a member. */
  async removeFromGroup(groupId: string, users: readonly string[]): Promise<boolean> {
    return this.groupsOrFail.removeUsers(groupId, users);
  }

  /** This user leaves the group (all its devices): the first member to read it commits the removal. */
  async leaveGroup(groupId: string): Promise<void> {
    return this.groupsOrFail.leaveGroup(groupId);
  }

  /** New keys for this device in the group: an earlier copy of its state (a leak) reads nothing from now on. */
  async updateGroupKeys(groupId: string): Promise<void> {
    return this.groupsOrFail.updateKeys(groupId);
  }

  /**
   * Sends a text to a group. It needs a connection; when the connection fails during the send, the text
   * is kept with the group and goes at the next login or before the next text (never twice).
   */
  async sendGroupMessage(groupId: string, text: string): Promise<{ seq: number }> {
    return this.groupsOrFail.sendMessage(groupId, text);
  }

  /** The groups this device holds, with their names; `active` false for those it left or was removed from. */
  async groups(): Promise<{ groupId: string; name: string | undefined; active: boolean }[]> {
    return this.groupsOrFail.groups();
  }

  /** One group's name, epoch and members as this device's MLS state says. */
  async groupInfo(groupId: string): Promise<GroupInfo> {
    return this.groupsOrFail.groupInfo(groupId);
  }

  /** The id of the active group named `nameOrId` (or with that id); `unknown_group` if none, `bad_request` if several share the name. */
  async findGroup(nameOrId: string): Promise<string> {
    return this.groupsOrFail.findGroup(nameOrId);
  }

  /** Where the server's routing list for the group differs from its MLS roster (§4.5): reported, never repaired. */
  groupRoutingDiffers(groupId: string): Promise<{ missing: Address[]; extra: Address[] }> {
    return this.groupsOrFail.routingDiffers(groupId);
  }

  /**
   * Connects, then logs in (or registers on first use). Resolves once authenticated. `listen` is called
   * with the client before it connects: the backlog is handled while the login completes, so listeners
   * added only after this resolves can miss its events (a backlog's read receipts, owed server receipts,
   * caughtUp). Messages are never lost that way (they are stored, and MessageStore.undisplayed has them).
   */
  static async connect(options: ChatClientOptions, listen?: (client: ChatClient) => void): Promise<ChatClient> {
    const client = new ChatClient(options);
    listen?.(client);
    await client.connection.open();
    await client.loggedIn;
    return client;
  }

  /**
   * Starts without waiting for the server: sends wait in the outbox and go out once a connection logs
   * in. For senders that must not fail while the server is down.
   */
  static offline(options: ChatClientOptions, listen?: (client: ChatClient) => void): ChatClient {
    const client = new ChatClient(options);
    listen?.(client);
    client.connection.openInBackground();
    return client;
  }

  /** Uploads or refills this user's prekeys; failures are reported as debug events, never thrown. */
  private async publishPreKeys(): Promise<void> {
    if (!this.preKeys || !this.connection.authenticated) return;
    try {
      await this.preKeys.maintain();
    } catch (cause) {
      this.emit('debug', { message: 'prekey upload failed', cause });
    }
  }

  get connected(): boolean {
    return this.connection.authenticated;
  }

  /** The directory's current keys for a user, not checked against the pin (but they are `username`'s). */
  fetchKeys(username: string): Promise<UserKeys> {
    return this.directory.fetchKeys(username);
  }

  /**
   * The peer's keys, checked against the pin (pinning them on first use). Throws PeerKeyChangedError
   * when the directory's keys differ from the pinned ones.
   */
  peerKeys(username: string): Promise<PinnedPeer> {
    return this.directory.peerKeys(username);
  }

  /**
   * The safety number this user shares with `username` (PROTOCOL.md §16.12: 60 digits, the same on both
   * sides), from the account key, never a linked device's own (the number belongs to the person), and
   * the peer's pinned key, checked against the directory as peerKeys does (PeerKeyChangedError when it
   * changed: a number computed from a changed key would be compared in vain).
   */
  async safetyNumber(username: string): Promise<{ digits: string; pin: PinnedPeer }> {
    const pin = await this.peerKeys(username);
    const ownKey = this.identity.account ? base64urlDecode(this.identity.account.signingKey.x) : this.secrets.signing.publicKey;
    const digits = safetyNumber({ identityKey: ownKey, username: this.username }, { identityKey: base64urlDecode(pin.signingKey.x), username });
    return { digits, pin };
  }

  /**
   * Accepts keys for a peer, replacing the pin: exactly the keys the user was shown (`seen`, as returned
   * by fetchKeys), or, given only their fingerprints, the directory's current keys if and only if they
   * have those fingerprints. Never a second answer the user did not see. Returns the old and new pins so
   * the caller can show both fingerprints. The new pin is unverified unless `verified` says the user
   * compared the safety number (e.g. `trust --expect`). Opens the messages held from that peer, then
   * emits 'trusted'.
   */
  async trustPeer(username: string, seen: SeenKeys, options: { verified?: boolean } = {}): Promise<{ previous: PinnedPeer | undefined; current: PinnedPeer }> {
    const { previous, current } = await this.directory.trust(username, seen, options.verified ?? false);
    await this.openHeld(username);
    this.emit('trusted', { username, previous, current });
    return { previous, current };
  }

  /**
   * Opens the messages from `peer` that were kept sealed because their keys had changed, oldest first and
   * each once, now that the user trusts the pinned keys: they are recorded and emitted like new messages.
   * Runs in the receive chain, so it never interleaves with live deliveries. Returns how many opened.
   */
  openHeld(peer: string): Promise<number> {
    return this.receiver.openHeld(peer);
  }

  /**
   * This user's devices (online only): those its signed list names, as this client verified it under the
   * account key, with this one marked `current`. `lastSeenAt` is the server's unsigned word (its
   * `devices.list` answer for oneself, PROTOCOL.md §19.5): a server can lie about when a device was
   * online, but it cannot add a device here or rename one.
   */
  async devices(): Promise<OwnDevice[]> {
    const { list, lastSeen } = await this.deviceDirectory.refreshOwn();
    return ownDevices(list, lastSeen, this.device);
  }

  /**
   * Links a new device to this account (primary only): `code` is the one the new device printed. Shows
   * the offer through `onOffer`, publishes the list that adds the device and provisions it (§18.7).
   * Fails with `link_failed` (a wrong, expired or reused code; nothing changed) or `not_primary`.
   * With `history` N, the last N messages then wait in the outbox for the new device (§21.3.1,
   * history-transfer.ts); sendOutbox() sends them.
   */
  approveDevice(code: string, options: ApproveOptions = {}): Promise<LinkedDevice> {
    const { secrets } = this;
    const debug = (message: string, cause?: unknown) => this.emit('debug', { message, cause });
    const history = { username: this.username, device: this.device, messages: this.messageStore, sealer: this.sealer, flush: () => this.outbox.flush(), debug };
    const approval = {
      connection: this.connection,
      devices: this.deviceDirectory,
      peers: this.peers,
      triedCodes: this.triedLinkCodes,
      username: this.username,
      device: this.device,
      signingKey: secrets.signing,
      encryptionKey: secrets.encryptionPublicJwk,
    };
    return approveWithHistory(history, options.history, (count) => approveDevice(approval, code, { ...options, history: count }));
  }

  /**
   * Sends what waits in the outbox now (while logged in) and resolves once nothing more can go out on
   * this connection: all of it was accepted or given up, or the connection went (it waits for the next
   * login). `outboxEntries()` of the store says what is left.
   */
  async sendOutbox(): Promise<void> {
    this.outbox.flush();
    await this.outbox.idle();
  }

  /** Removes one of this account's devices (primary only; never device 1): publishes the list without it. */
  removeDevice(device: number): Promise<{ device: number; name: string; version: number }> {
    return removeOwnDevice({ connection: this.connection, devices: this.deviceDirectory, username: this.username, device: this.device, signingKey: this.secrets.signing }, device);
  }

  async onlineUsers(): Promise<string[]> {
    return (await this.connection.call('users', {})).users;
  }

  /**
   * Seals the message and puts it in the persisted outbox. While connected, resolves when the server has
   * stored it (status `sent` or `queued`); while disconnected, resolves at once with status `outbox`
   * (it goes out on reconnect, exactly once). Offline, only a peer whose keys are pinned can be written to.
   */
  async send(to: string, body: string): Promise<SentMessage> {
    const id = await this.sealer.seal(to, body);
    if (!this.connection.authenticated) {
      this.outbox.flush();
      return { id, to, status: 'outbox' };
    }
    const accepted = this.outbox.waitFor(id);
    this.outbox.flush();
    return accepted;
  }

  /** The largest file the server takes, as its latest login answer said (bytes, before padding). */
  get maxAttachmentBytes(): number {
    return this.attachmentLimit;
  }

  /**
   * Sends a file: checks the peer's keys and the size first (a file over the server's limit is refused,
   * `attachment_too_large`, before a byte is uploaded), encrypts it with a fresh key while uploading it
   * in chunks (resuming after passing failures), then sends the message that carries the key and digest
   * through the outbox like any other. `caption` is the message's text; without one the body names the
   * file, for clients that do not know attachments. Needs a connection: a file cannot wait in the outbox.
   */
  async sendFile(to: string, source: AttachmentSource, options: { caption?: string; onProgress?: Progress } = {}): Promise<SentMessage & { attachment: AttachmentPointer }> {
    if (to === this.username) throw new ChatError('bad_request', 'notes to self are not supported: the recipient must be another user');
    if (!this.connection.authenticated) throw new ChatError('not_connected', 'a file needs a connection to the server: nothing was sent');
    if (source.size > this.attachmentLimit) {
      throw new ChatError('attachment_too_large', `the file is ${source.size} bytes; this server takes files of at most ${this.attachmentLimit} bytes. Nothing was sent`);
    }
    // Refuses an unknown user or changed keys now, not after uploading the whole file.
    await this.directory.peerKeys(to);
    // One fetch per device the message goes to (the user's own other devices too, §21.3). A device linked
    // while the file uploads gets the message but finds the blob's fetches spent: the count is a bound.
    const downloads = (await this.deviceDirectory.targets(to, true)).length;
    const attachment = await uploadAttachment({ connection: this.connection, serverUrl: this.url, ...(this.blobHttp && { http: this.blobHttp }) }, source, downloads, options.onProgress);
    const id = await this.sealer.seal(to, options.caption ?? attachmentFallbackBody(source.name, source.size), { attachment });
    // The connection may have dropped during the upload: the message then waits in the outbox like any other.
    if (!this.connection.authenticated) {
      this.outbox.flush();
      return { id, to, status: 'outbox', attachment };
    }
    const accepted = this.outbox.waitFor(id);
    this.outbox.flush();
    return { ...(await accepted), attachment };
  }

  /**
   * Downloads, checks and decrypts a received file into a sink from `openSink` (one per try); returns
   * where it ended up. Refused with DecryptionFailedError if any check fails (nothing is kept), or
   * `blob_not_found` if the server no longer has it.
   */
  downloadAttachment(attachment: AttachmentPointer, openSink: () => Promise<AttachmentSink>, options: { onProgress?: Progress } = {}): Promise<string> {
    return downloadAttachment(attachment, openSink, {
      serverUrl: this.url,
      ...(options.onProgress && { onProgress: options.onProgress }),
      ...(this.blobHttp && { http: this.blobHttp }),
    });
  }

  /**
   * The user has been shown these messages from `sender` (their ids as emitted in 'message', or of
   * stored records): tells `sender`, in a read receipt sent shortly after (several calls share one), unless
   * read receipts are off. Call it only for what a person was shown.
   */
  markRead(sender: string, ids: readonly string[]): void {
    if (sender === this.username || this.closed) return;
    this.readReceipts?.add(sender, ids);
  }

  /**
   * New messages as an async iterator, from the first call on (nothing is buffered before it); ends when
   * the client is closed.
   */
  messages(): AsyncIterableIterator<ReceivedMessage> {
    return this.inbox.iterate();
  }

  /**
   * Resolves once the server has said, for the first time since this client was made, that the backlog
   * of a login was pushed, and every message pushed before it has been handled and emitted (see the
   * 'caughtUp' event). The server's word only; it may never come (an older server, or a lying one), so
   * a caller that must end bounds the wait itself.
   */
  caughtUp(): Promise<CaughtUp> {
    return this.firstCaughtUp;
  }

  /**
   * Finishes what was received, sends the pending read receipts and acknowledgements (while connected),
   * then disconnects. Receipts that cannot go out now stay in the outbox for the next run.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.receiver.finish();
    // Commits started by what was received (a member's leave settled by removing its devices) finish first,
    // and so do the KeyPackages a login began to publish (others may be about to add this device).
    await this.groupUpkeep;
    await this.groupManager?.idle();
    if (this.readReceipts) {
      await this.readReceipts.flush();
      if (this.connection.authenticated) this.outbox.flush();
      await this.outbox.idle();
    }
    this.connection.close();
    this.inbox.end();
  }
}
