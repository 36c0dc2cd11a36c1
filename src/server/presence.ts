/** Who is online on this node: each user's connected, authenticated sockets. */
export class Presence<S> {
  private readonly sockets = new Map<string, Set<S>>();

  /** Returns true when this is the user's first socket (the user just came online). */
  add(username: string, socket: S): boolean {
    let set = this.sockets.get(username);
    const first = !set;
    if (!set) this.sockets.set(username, (set = new Set()));
    set.add(socket);
    return first;
  }

  /** Returns true when this was the user's last socket (the user just went offline). */
  remove(username: string, socket: S): boolean {
    const set = this.sockets.get(username);
    if (!set || !set.delete(socket)) return false;
    if (set.size > 0) return false;
    this.sockets.delete(username);
    return true;
  }

  isOnline(username: string): boolean {
    return this.sockets.has(username);
  }

  socketsOf(username: string): ReadonlySet<S> | undefined {
    return this.sockets.get(username);
  }

  users(): string[] {
    return [...this.sockets.keys()].sort();
  }

  get userCount(): number {
    return this.sockets.size;
  }
}
