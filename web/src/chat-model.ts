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
import { messageItem, type MessageItem } from './message-words.js';

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
}

export class ChatModel {
  private snapshot: ChatView;
  private readonly listeners = new Set<() => void>();
  /** Peers with a conversation, most recent first. */
  private peers: string[] = [];
  private readonly online = new Map<string, boolean>();
  private account: OpenAccount | undefined;
  /** Store reads in order, one at a time. */
  private work: Promise<void> = Promise.resolve();
  private refreshQueued = false;
  /** History arrived from the first device (a linked browser): its peers are read at the next refresh. */
  private rescanPeers = false;
  /** Sends in the order typed. */
  private sending: Promise<void> = Promise.resolve();

  constructor(me: string) {
    this.snapshot = { me, connection: 'connected', conversations: [], current: undefined, messages: [], notice: undefined, durable: false };
  }

  get view(): ChatView {
    return this.snapshot;
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(change: Partial<ChatView>): void {
    this.snapshot = { ...this.snapshot, ...change };
    for (const listener of [...this.listeners]) listener();
  }

  /** Listens to the client; called with it before it connects, so the first login's events are heard. */
  listen(client: ChatClient): void {
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
    const online = account.client.connected;
    this.set({ durable: account.stores.durable, connection: online ? 'connected' : 'reconnecting' });
    this.rescanPeers = true;
    if (online) await this.askPresence();
    document.addEventListener('visibilitychange', () => this.refreshSoon());
    this.refreshSoon();
    await this.work;
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
      if (err instanceof PeerKeyChangedError) return this.tell(keysChanged(name));
      return this.tell(`Could not start a conversation with ${name}: ${describeError(err)}`);
    }
    this.open(name);
    return true;
  }

  open(peer: string): void {
    // A new conversation goes first; opening a listed one does not reorder the list under the pointer.
    if (!this.peers.includes(peer)) this.notePeer(peer);
    this.set({ current: peer, notice: undefined });
    this.refreshSoon();
  }

  /** Sends `body` to the open conversation; resolves once the server has it (or it waits in the outbox). */
  send(body: string): Promise<void> {
    const account = this.account;
    const to = this.snapshot.current;
    if (!account || to === undefined || body.trim() === '') return Promise.resolve();
    const sent = this.sending.then(async () => {
      const sealing = account.client.send(to, body);
      // Sealed and recorded (status: not sent yet) before the server answers: shown at once.
      this.refreshSoon();
      try {
        await sealing;
        this.set({ notice: undefined });
      } catch (err) {
        this.tell(err instanceof PeerKeyChangedError ? keysChanged(to) : `Not sent: ${describeError(err)}`);
      }
      this.notePeer(to);
      this.refreshSoon();
    });
    this.sending = sent;
    return sent;
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
    const seen = document.visibilityState === 'visible' ? undisplayed.filter((r) => r.peer === current) : [];
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

function keysChanged(peer: string): string {
  return (
    `Not sent: ${peer}'s keys have changed since you first talked. This happens when they reinstall, but also when ` +
    `someone impersonates them. Sending to ${peer} stays blocked: reviewing and accepting new keys is not in the web app yet.`
  );
}
