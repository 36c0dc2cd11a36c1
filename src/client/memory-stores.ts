/** In-memory reference stores: for tests, and for clients that choose to keep nothing. */
import type { HistoryRecord, MessageStore, OutboxEntry, PeerKeyStore, PinnedPeer } from './stores.js';

export class MemoryPeerKeyStore implements PeerKeyStore {
  private readonly peers = new Map<string, PinnedPeer>();
  async get(username: string) {
    return this.peers.get(username);
  }
  async put(peer: PinnedPeer) {
    this.peers.set(peer.username, peer);
  }
}

const keyOf = (direction: 'in' | 'out', id: string) => `${direction}:${id}`;

export class MemoryMessageStore implements MessageStore {
  /** Insertion-ordered, so iteration is oldest first. */
  private readonly records = new Map<string, HistoryRecord & { displayed: boolean }>();
  private readonly pendingOut = new Map<string, OutboxEntry>();

  async recordIncoming(record: HistoryRecord): Promise<'new' | 'duplicate'> {
    const key = keyOf('in', record.id);
    if (this.records.has(key)) return 'duplicate';
    this.records.set(key, { ...record, displayed: false });
    return 'new';
  }

  async addOutgoing(entry: OutboxEntry, record: HistoryRecord): Promise<void> {
    this.pendingOut.set(entry.id, entry);
    this.records.set(keyOf('out', record.id), { ...record, displayed: true });
  }

  async outbox(): Promise<OutboxEntry[]> {
    return [...this.pendingOut.values()];
  }

  async settleOutgoing(id: string, status: 'sent' | 'queued' | 'failed', server?: { id: string; time: number }): Promise<void> {
    this.pendingOut.delete(id);
    const r = this.records.get(keyOf('out', id));
    if (!r) return;
    if (r.status !== 'delivered') r.status = status;
    if (server) {
      r.serverId = server.id;
      r.serverTime = server.time;
    }
  }

  async markDelivered(id: string): Promise<void> {
    const r = this.records.get(keyOf('out', id));
    if (r) r.status = 'delivered';
  }

  async undisplayed(): Promise<HistoryRecord[]> {
    return [...this.records.values()].filter((r) => r.direction === 'in' && !r.displayed).map(strip);
  }

  async markDisplayed(ids: readonly string[]): Promise<void> {
    for (const id of ids) {
      const r = this.records.get(keyOf('in', id));
      if (r) r.displayed = true;
    }
  }

  async history(options: { peer?: string; limit?: number } = {}): Promise<HistoryRecord[]> {
    const all = [...this.records.values()].filter((r) => options.peer === undefined || r.peer === options.peer).map(strip);
    return options.limit === undefined ? all : all.slice(-options.limit);
  }

  async get(id: string, direction: 'in' | 'out'): Promise<HistoryRecord | undefined> {
    const r = this.records.get(keyOf(direction, id));
    return r ? strip(r) : undefined;
  }
}

function strip(r: HistoryRecord & { displayed: boolean }): HistoryRecord {
  const { displayed: _displayed, ...record } = r;
  return { ...record };
}

