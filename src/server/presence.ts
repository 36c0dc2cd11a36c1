/**
 * Who is online: the users with at least one authenticated connection, each connection named by its
 * Socket.IO id. This is the one piece of presence state; the join/leave events clients hear are derived
 * from it (presence-handling.ts). The registry is an interface so that a cluster can keep it in a shared
 * store (a Redis set per user with per-node leases, so a crashed node's users go offline when its lease
 * runs out): every call is async for that reason, although the in-process one answers at once.
 */
export interface PresenceRegistry {
  /** Records a connection of `username`; resolves true when it is the user's first (they just came online). */
  add(username: string, connectionId: string): Promise<boolean>;
  /** Forgets a connection; resolves true when it was the user's last (they just went offline). */
  remove(username: string, connectionId: string): Promise<boolean>;
  isOnline(username: string): Promise<boolean>;
  /** The online users, sorted. */
  users(): Promise<string[]>;
  userCount(): Promise<number>;
}

/** The registry of one node that is the whole server. */
export class InProcessPresence implements PresenceRegistry {
  private readonly connections = new Map<string, Set<string>>();

  async add(username: string, connectionId: string): Promise<boolean> {
    let set = this.connections.get(username);
    const first = !set;
    if (!set) this.connections.set(username, (set = new Set()));
    set.add(connectionId);
    return first;
  }

  async remove(username: string, connectionId: string): Promise<boolean> {
    const set = this.connections.get(username);
    if (!set || !set.delete(connectionId)) return false;
    if (set.size > 0) return false;
    this.connections.delete(username);
    return true;
  }

  async isOnline(username: string): Promise<boolean> {
    return this.connections.has(username);
  }

  async users(): Promise<string[]> {
    return [...this.connections.keys()].sort();
  }

  async userCount(): Promise<number> {
    return this.connections.size;
  }
}
