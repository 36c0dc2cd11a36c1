/**
 * Node-only: the client stores as JSON files in the user's folder, each rewritten atomically, under a lock
 * file: a user's `receive` and `send` may pin different peers at the same moment, and neither pin may be lost.
 * peers.json keeps, beside each pin, the newest device list verified under it (`deviceList`); a pin from
 * before devices has none, which means "no list seen yet" (docs/design/devices-v2.md §11.2 step 2).
 */
import type { PeerKeyStore, PinChange, PinnedPeer } from '../stores.js';
import { readJsonFile, withFileLock, writeFileAtomic } from './atomic-file.js';

interface PeersFileV1 {
  v: 1;
  peers: Record<string, PinnedPeer>;
}

export class FilePeerKeyStore implements PeerKeyStore {
  constructor(private readonly path: string) {}

  private async read(): Promise<PeersFileV1> {
    return (await readJsonFile<PeersFileV1>(this.path)) ?? { v: 1, peers: {} };
  }

  async get(username: string): Promise<PinnedPeer | undefined> {
    const file = await this.read();
    return Object.hasOwn(file.peers, username) ? file.peers[username] : undefined;
  }

  async put(peer: PinnedPeer): Promise<void> {
    await withFileLock(this.path, async () => {
      const file = await this.read();
      file.peers[peer.username] = peer;
      await writeFileAtomic(this.path, JSON.stringify(file, null, 2));
    });
  }

  async putIfAbsent(peer: PinnedPeer): Promise<PinnedPeer> {
    return withFileLock(this.path, async () => {
      const file = await this.read();
      if (Object.hasOwn(file.peers, peer.username)) return file.peers[peer.username]!;
      file.peers[peer.username] = peer;
      await writeFileAtomic(this.path, JSON.stringify(file, null, 2));
      return peer;
    });
  }

  async update<T>(username: string, change: (pin: PinnedPeer | undefined) => PinChange<T> | Promise<PinChange<T>>): Promise<T> {
    return withFileLock(this.path, async () => {
      const file = await this.read();
      const { pin, result } = await change(Object.hasOwn(file.peers, username) ? file.peers[username] : undefined);
      if (pin) {
        file.peers[username] = pin;
        await writeFileAtomic(this.path, JSON.stringify(file, null, 2));
      }
      return result;
    });
  }

  async all(): Promise<PinnedPeer[]> {
    return Object.values((await this.read()).peers);
  }
}
