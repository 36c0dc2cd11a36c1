/**
 * The SQLite store's queue usage (design §9.4: per recipient device, per recipient user, per sender and
 * recipient device, and for the whole server), kept in memory instead of four counter rows updated with
 * every envelope queued or removed. Each figure is a sum over the queue table, so the counters are
 * rebuilt from it when the store opens: they agree with the queue after any restart or crash, and no
 * write can leave them behind it. Changes made inside a write transaction are undone if it rolls back.
 *
 * One process owns a database file's counters: two servers writing one SQLite file would each count only
 * their own changes (the server's data folder is one server's, docs/ARCHITECTURE.md).
 */
import type Database from 'better-sqlite3';
import { NO_USAGE, type Usage } from './quota.js';

interface Change {
  recipient: string;
  device: number;
  sender: string;
  count: number;
  bytes: number;
}

/** A pair's usage with the address it counts for, so that a sender's pairs can be listed. */
interface PairUsage extends Usage {
  recipient: string;
  device: number;
}

export class UsageCounters {
  private readonly devices = new Map<string, Usage>();
  private readonly users = new Map<string, Usage>();
  /** By sender, then by recipient device: removing a sender's device lists its pairs without a scan. */
  private readonly pairsBySender = new Map<string, Map<string, PairUsage>>();
  private server: Usage = { count: 0, bytes: 0 };
  /** The changes of the open write transaction, to undo if it rolls back; null outside one. */
  private journal: Change[] | null = null;

  /** Sums the queue table: what every counter must be. */
  static fromQueue(db: Database.Database): UsageCounters {
    const counters = new UsageCounters();
    const rows = db
      .prepare<[], { recipient: string; recipient_device: number; sender: string; count: number; bytes: number }>(
        'SELECT recipient, recipient_device, sender, count(*) AS count, sum(size) AS bytes FROM queue GROUP BY recipient, recipient_device, sender',
      )
      .all();
    for (const r of rows) counters.apply({ recipient: r.recipient, device: r.recipient_device, sender: r.sender, count: r.count, bytes: r.bytes });
    return counters;
  }

  /** Runs `transaction`; if it throws (rolled back), the counters are put back as they were before it. */
  during<T>(transaction: () => T): T {
    this.journal = [];
    try {
      return transaction();
    } catch (err) {
      for (let i = this.journal.length - 1; i >= 0; i--) {
        const c = this.journal[i]!;
        this.apply({ ...c, count: -c.count, bytes: -c.bytes });
      }
      throw err;
    } finally {
      this.journal = null;
    }
  }

  /** Adds (or with negative figures, removes) envelopes queued for `recipient`'s `device` by `sender`. */
  add(recipient: string, device: number, sender: string, count: number, bytes: number): void {
    const change = { recipient, device, sender, count, bytes };
    this.apply(change);
    this.journal?.push(change);
  }

  device(recipient: string, device: number): Usage {
    return this.devices.get(deviceKey(recipient, device)) ?? NO_USAGE;
  }

  user(recipient: string): Usage {
    return this.users.get(recipient) ?? NO_USAGE;
  }

  pair(recipient: string, device: number, sender: string): Usage {
    const pair = this.pairsBySender.get(sender)?.get(deviceKey(recipient, device));
    return pair ? { count: pair.count, bytes: pair.bytes } : NO_USAGE;
  }

  /** The recipient devices `sender` has envelopes queued for. */
  pairsFrom(sender: string): Array<{ recipient: string; device: number }> {
    return [...(this.pairsBySender.get(sender)?.values() ?? [])].map(({ recipient, device }) => ({ recipient, device }));
  }

  serverBytes(): number {
    return this.server.bytes;
  }

  private apply(c: Change): void {
    addTo(this.devices, deviceKey(c.recipient, c.device), c);
    addTo(this.users, c.recipient, c);
    let pairs = this.pairsBySender.get(c.sender);
    if (!pairs) this.pairsBySender.set(c.sender, (pairs = new Map()));
    const key = deviceKey(c.recipient, c.device);
    const pair = pairs.get(key) ?? { recipient: c.recipient, device: c.device, count: 0, bytes: 0 };
    pair.count += c.count;
    pair.bytes += c.bytes;
    if (pair.count === 0) pairs.delete(key);
    else pairs.set(key, pair);
    if (pairs.size === 0) this.pairsBySender.delete(c.sender);
    this.server = { count: this.server.count + c.count, bytes: this.server.bytes + c.bytes };
  }
}

// A newline cannot occur in a username (docs/PROTOCOL.md §3), so the key is unambiguous.
const deviceKey = (recipient: string, device: number) => `${device}\n${recipient}`;

/** Counters that reach zero leave the map: memory follows what is queued, not everyone who ever was. */
function addTo(map: Map<string, Usage>, key: string, c: Change): void {
  const old = map.get(key) ?? NO_USAGE;
  const next = { count: old.count + c.count, bytes: old.bytes + c.bytes };
  if (next.count === 0) map.delete(key);
  else map.set(key, next);
}
