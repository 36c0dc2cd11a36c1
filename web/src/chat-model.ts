/**
 * The signed-in screen's state, read from the stores: the conversations (by peer, with unread counts and
 * presence), the open conversation's messages with their states, the connection, and the latest problem
 * to tell the user. The stores are the truth: every event from the client re-reads them (coalesced), so
 * what is shown is what is recorded, as the CLI's `history` shows it.
 *
 * Like the CLI's chat screen (src/cli/chat-session.ts), messages of the open conversation count as shown
 * (marked displayed, and their senders get a read receipt) only while the page is visible; others count
 * as unread.
 */
import { ChatError, PeerKeyChangedError, type ChatClient } from '../../src/client/index.js';
import type { OpenAccount } from './account.js';
import { usernameProblem } from './account.js';
import { describeError } from './describe-error.js';
import { FileTransfers, uploadProblem } from './file-transfers.js';
import { GroupsModel } from './groups-model.js';
import { keyChangeOf, safetyNumberView, type KeyChange, type SafetyNumberView } from './key-review.js';
import { messageItem, type MessageItem } from './message-words.js';
import { ViewModel } from './view-model.js';

/** The newest messages a conversation view shows. */
export const CONVERSATION_LIMIT = 200;
/** How far back the stored history is read, once, for the peers talked to before. */
const KNOWN_PEERS_SCAN = 1000;

export interface Conversation {
  peer: string;
  unread: number;
  /** As the server last said; undefined before it said anything. */
  online: boolean | undefined;
}

export type ConnectionState = 'connected' | 'reconnecting' | 'stopped';

export interface ChatView {
  me: string;
  connection: ConnectionState;
  /** Most recent first. */
  conversations: readonly Conversation[];
  current: string | undefined;
  messages: readonly MessageItem[];
  /** The latest problem to tell the user, if any. */
  notice: string | undefined;
  /** False while the app's stores keep nothing beyond this tab. */
  durable: boolean;
  /**
   * Peers whose keys changed since they were pinned, each waiting for the user's decision: sending to
   * them stays blocked (the library refuses it too) until the user accepts the new keys.
   */
  keyChanges: ReadonlyMap<string, KeyChange>;
  /** The safety-number screen, when open. */
  safety: SafetyNumberView | undefined;
}

export class ChatModel extends ViewModel<ChatView> {
  /** Peers with a conversation, most recent first. */
  private peers: string[] = [];
  private readonly online = new Map<string, boolean>();
  private account: OpenAccount | undefined;
  /** Store reads in order, one at a time. */
  private work: Promise<void> = Promise.resolve();
  private refreshQueued = false;
  /** History arrived from the first device (a linked browser): its peers are read at the next refresh. */
  private rescanPeers = false;
  /** False while another page (devices) covers the open conversation: nothing in it is seen then. */
  private conversationShown = true;
  /** Sends in the order typed. */
  private sending: Promise<void> = Promise.resolve();
  /** Files being sent and received (their progress is its own view: it changes many times a second). */
  readonly files = new FileTransfers();
  /** The groups (their own view: a group open closes the 1:1 conversation, and the other way round). */
  readonly groups: GroupsModel;

  constructor(me: string) {
    super({ me, connection: 'connected', conversations: [], current: undefined, messages: [], notice: undefined, durable: false, keyChanges: new Map(), safety: undefined });
    this.groups = new GroupsModel(me, () => this.set({ current: undefined, safety: undefined, notice: undefined }));
  }

  /** Listens to the client; called with it before it connects, so the first login's events are heard. */
  listen(client: ChatClient): void {
    this.groups.listen(client);
    // A message puts its conversation first.
    client.on('message', (m) => {
      this.notePeer(m.outgoing ? m.to : m.from);
      this.refreshSoon();
    });
    client.on('history', () => {
      this.rescanPeers = true;
      this.refreshSoon();
    });
    for (const event of ['rejected', 'sent', 'delivered', 'read', 'failed', 'unreadable', 'trusted'] as const) {
      client.on(event, () => this.refreshSoon());
    }
    client.on('presence', (p) => {
      this.online.set(p.username, p.online);
      this.refreshSoon();
    });
    client.on('disconnected', () => this.set({ connection: 'reconnecting' }));
    client.on('reconnected', () => this.connected());
    // A client started offline (the server was down at unlock) has no reconnect: its first login ends so.
    client.on('caughtUp', () => {
      if (this.snapshot.connection === 'reconnecting') this.connected();
    });
    client.on('removed', () => this.set({ connection: 'stopped', notice: 'This device was removed from your account: nothing more is sent or received here.' }));
    client.on('refused', () => this.set({ connection: 'stopped', notice: 'The server now binds your name to other keys: this page stopped connecting.' }));
  }

  private connected(): void {
    this.set({ connection: 'connected' });
    // A new connection: presence is asked (and subscribed to) again.
    void this.askPresence().then(() => this.refreshSoon());
  }

  /** The account is open (connected, or started offline): reads what the stores hold and who is online. */
  async start(account: OpenAccount): Promise<void> {
    this.account = account;
    this.files.use(account.client);
    const online = account.client.connected;
    this.set({ durable: account.stores.durable, connection: online ? 'connected' : 'reconnecting' });
    this.rescanPeers = true;
    if (online) await this.askPresence();
    document.addEventListener('visibilitychange', () => this.refreshSoon());
    this.refreshSoon();
    await Promise.all([this.work, this.groups.start(account)]);
  }

  /** Who is online now; asking also subscribes this connection to presence changes. */
  private async askPresence(): Promise<void> {
    const account = this.account;
    if (!account) return;
    try {
      const online = new Set(await account.client.onlineUsers());
      for (const peer of new Set([...this.online.keys(), ...online])) this.online.set(peer, online.has(peer));
    } catch (err) {
      this.tell(`Could not ask who is online: ${describeError(err)}`);
    }
  }

  /** Checks that `name` is a user (pinning their keys on first use, as sending would) and opens the conversation. */
  async startConversation(name: string): Promise<boolean> {
    const account = this.account;
    if (!account) return false;
    const problem = usernameProblem(name);
    if (problem) return this.tell(problem);
    if (name === this.snapshot.me) return this.tell('That is you: write to another user.');
    try {
      await account.client.peerKeys(name);
    } catch (err) {
      if (err instanceof ChatError && err.code === 'unknown_user') return this.tell(`There is no user named ${name} on this server.`);
      if (!(err instanceof PeerKeyChangedError)) return this.tell(`Could not start a conversation with ${name}: ${describeError(err)}`);
      // The conversation opens all the same, blocked, with the change to review.
      this.noteKeyChange(err);
    }
    this.open(name);
    return true;
  }

  open(peer: string): void {
    // A new conversation goes first; opening a listed one does not reorder the list under the pointer.
    if (!this.peers.includes(peer)) this.notePeer(peer);
    this.groups.close();
    this.set({ current: peer, notice: undefined, safety: undefined });
    this.refreshSoon();
    void this.checkKeys(peer);
  }

  /**
   * Asks for the peer's keys as sending would (the library asks the directory once per connection), so a
   * change is shown when the conversation opens, not only after the user typed a message.
   */
  private async checkKeys(peer: string): Promise<void> {
    const account = this.account;
    if (!account || this.snapshot.keyChanges.has(peer)) return;
    try {
      await account.client.peerKeys(peer);
    } catch (err) {
      if (err instanceof PeerKeyChangedError) this.noteKeyChange(err);
      // Anything else (offline, say) shows when a message is sent.
    }
  }

  /** Whether the open conversation is on the screen; when it comes back, what arrived meanwhile counts as seen. */
  setConversationShown(shown: boolean): void {
    this.groups.setShown(shown);
    if (shown === this.conversationShown) return;
    this.conversationShown = shown;
    this.refreshSoon();
  }

  /** Sends `body` to the open conversation; resolves once the server has it (or it waits in the outbox). */
  send(body: string): Promise<void> {
    const account = this.account;
    const to = this.snapshot.current;
    if (!account || to === undefined || body.trim() === '') return Promise.resolve();
    if (this.snapshot.keyChanges.has(to)) return Promise.resolve(void this.tell(`Not sent: ${to}'s keys changed. Review them first.`));
    const sent = this.sending.then(async () => {
      const sealing = account.client.send(to, body);
      // Sealed and recorded (status: not sent yet) before the server answers: shown at once.
      this.refreshSoon();
      try {
        await sealing;
        this.set({ notice: undefined });
      } catch (err) {
        if (err instanceof PeerKeyChangedError) this.noteKeyChange(err);
        else this.tell(`Not sent: ${describeError(err)}`);
      }
      this.notePeer(to);
      this.refreshSoon();
    });
    this.sending = sent;
    return sent;
  }

  /**
   * Sends `file` to the open conversation with `caption` (none if blank). Not queued behind text
   * messages: a file's message is sealed once its upload ends, and typing goes on meanwhile.
   */
  async sendFile(file: File, caption: string): Promise<void> {
    const account = this.account;
    const to = this.snapshot.current;
    if (!account || to === undefined) return;
    if (this.snapshot.keyChanges.has(to)) return void this.tell(`Not sent: ${to}'s keys changed. Review them first.`);
    try {
      await this.files.upload(to, file, caption.trim() === '' ? undefined : caption);
      this.set({ notice: undefined });
    } catch (err) {
      if (err instanceof PeerKeyChangedError) this.noteKeyChange(err);
      else this.tell(uploadProblem(file, err, account.client.maxAttachmentBytes));
    }
    this.notePeer(to);
    this.refreshSoon();
  }

  private noteKeyChange(err: PeerKeyChangedError): void {
    const change = keyChangeOf(err);
    const keyChanges = new Map(this.snapshot.keyChanges).set(change.peer, change);
    this.set({ keyChanges, notice: undefined, safety: undefined });
  }

  private forgetKeyChange(peer: string): void {
    const keyChanges = new Map(this.snapshot.keyChanges);
    keyChanges.delete(peer);
    this.set({ keyChanges });
  }

  /** The user accepts the keys shown for `peer` (only those: by their fingerprints); sending is unblocked. */
  async acceptNewKeys(peer: string): Promise<void> {
    const change = this.snapshot.keyChanges.get(peer);
    const account = this.account;
    if (!change || !account) return;
    try {
      await account.client.trustPeer(peer, change.seen);
      this.forgetKeyChange(peer);
      this.tell(`You now use ${peer}'s new keys. Compare your safety number with ${peer} to be sure it is them.`);
    } catch (err) {
      // The server's keys changed again after the warning was shown: the new change is reviewed instead.
      if (err instanceof PeerKeyChangedError) this.noteKeyChange(err);
      else this.tell(`Could not accept ${peer}'s keys: ${describeError(err)}`);
    }
    this.refreshSoon();
  }

  /** The user keeps sending to `peer` blocked; the warning folds to one line with a way back to it. */
  keepBlocked(peer: string): void {
    const change = this.snapshot.keyChanges.get(peer);
    if (change) this.set({ keyChanges: new Map(this.snapshot.keyChanges).set(peer, { ...change, kept: true }) });
  }

  reviewKeyChange(peer: string): void {
    const change = this.snapshot.keyChanges.get(peer);
    if (change) this.set({ keyChanges: new Map(this.snapshot.keyChanges).set(peer, { ...change, kept: false }) });
  }

  /** Opens the safety-number screen for the open conversation. */
  async showSafetyNumber(): Promise<void> {
    const account = this.account;
    const peer = this.snapshot.current;
    if (!account || peer === undefined) return;
    try {
      this.set({ safety: await safetyNumberView(account.client, peer), notice: undefined });
    } catch (err) {
      if (err instanceof PeerKeyChangedError) this.noteKeyChange(err);
      else this.tell(`Could not compute the safety number: ${describeError(err)}`);
    }
  }

  closeSafetyNumber(): void {
    this.set({ safety: undefined });
  }

  /** The user compared the number with the peer: the keys it was computed from are marked verified. */
  async markVerified(): Promise<void> {
    const safety = this.snapshot.safety;
    const account = this.account;
    if (!safety || !account) return;
    try {
      await account.client.trustPeer(safety.peer, safety.seen, { verified: true });
      this.set({ safety: { ...safety, verified: true } });
    } catch (err) {
      if (err instanceof PeerKeyChangedError) this.noteKeyChange(err);
      else this.tell(`Could not mark ${safety.peer} verified: ${describeError(err)}`);
    }
  }

  private tell(notice: string): false {
    this.set({ notice });
    return false;
  }

  private notePeer(peer: string): void {
    this.peers = [peer, ...this.peers.filter((p) => p !== peer)];
  }

  /** Re-reads the stores after the work queued before; several calls in a row read once. */
  private refreshSoon(): void {
    if (this.refreshQueued) return;
    this.refreshQueued = true;
    this.work = this.work
      .then(() => {
        this.refreshQueued = false;
        return this.refresh();
      })
      .catch((err: unknown) => {
        this.tell(`Could not read the messages: ${describeError(err)}`);
      });
  }

  private async refresh(): Promise<void> {
    const account = this.account;
    if (!account) return;
    const { messages } = account.stores;
    if (this.rescanPeers) {
      this.rescanPeers = false;
      const stored = await messages.history({ limit: KNOWN_PEERS_SCAN });
      for (const r of stored.reverse()) if (!this.peers.includes(r.peer)) this.peers.push(r.peer);
    }
    const current = this.snapshot.current;
    const undisplayed = await messages.undisplayed();
    const seen = document.visibilityState === 'visible' && this.conversationShown ? undisplayed.filter((r) => r.peer === current) : [];
    if (seen.length > 0) {
      await messages.markDisplayed(seen.map((r) => r.id));
      for (const r of seen) if (r.status === 'received') account.client.markRead(r.peer, [r.id]);
    }
    const unread = new Map<string, number>();
    for (const r of undisplayed) {
      if (!this.peers.includes(r.peer)) this.notePeer(r.peer);
      if (!seen.includes(r)) unread.set(r.peer, (unread.get(r.peer) ?? 0) + 1);
    }
    const history = current === undefined ? [] : await messages.history({ peer: current, limit: CONVERSATION_LIMIT });
    this.set({
      conversations: this.peers.map((peer) => ({ peer, unread: unread.get(peer) ?? 0, online: this.online.get(peer) })),
      messages: history.map((r) => messageItem(r, this.snapshot.me)),
    });
  }
}
