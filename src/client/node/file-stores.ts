/** Node-only: the client stores as JSON files in the user's folder, each rewritten atomically. */
import { MemorySeenIdStore } from '../memory-stores.js';
import type { PeerKeyStore, PinnedPeer } from '../stores.js';
import { readJsonFile, writeFileAtomic } from './atomic-file.js';

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
    const file = await this.read();
    file.peers[peer.username] = peer;
    await writeFileAtomic(this.path, JSON.stringify(file, null, 2));
  }

  async all(): Promise<PinnedPeer[]> {
    return Object.values((await this.read()).peers);
  }
}

interface SeenFileV1 {
  v: 1;
  ids: string[];
}

/** Seen ids in memory, persisted after every addition so a restart still rejects replays. */
export class FileSeenIdStore extends MemorySeenIdStore {
  private writing: Promise<void> = Promise.resolve();

  private constructor(private readonly path: string) {
    super();
  }

  static async open(path: string): Promise<FileSeenIdStore> {
    const store = new FileSeenIdStore(path);
    for (const id of (await readJsonFile<SeenFileV1>(path))?.ids ?? []) store.ids.add(id);
    return store;
  }

  override async add(id: string): Promise<void> {
    await super.add(id);
    const snapshot: SeenFileV1 = { v: 1, ids: [...this.ids] };
    this.writing = this.writing.then(() => writeFileAtomic(this.path, JSON.stringify(snapshot)));
    await this.writing;
  }
}
