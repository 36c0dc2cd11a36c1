/**
 * A fault of the recipient's own storage while it opens a first message (SQLite busy, say) is not a bad
 * message: the envelope is retried, never acknowledged as rejected, so the good message is not lost.
 */
import { describe, expect, it } from 'vitest';
import { MemoryRatchetStore, type PreKeyKind, type PreKeyPickles } from '../../src/client/ratchet-store.js';
import { connectTestClient } from '../helpers/test-clients.js';
import { useTestServer } from '../helpers/server-fixtures.js';

/** A store whose prekey reads fail `failures` times (as SQLITE_BUSY would), then work. */
class FlakyPreKeyStore extends MemoryRatchetStore {
  failures = 0;
  override async loadPreKey<K extends PreKeyKind>(kind: K, id: number): Promise<PreKeyPickles[K] | undefined> {
    if (this.failures > 0) {
      this.failures--;
      throw new Error('SQLITE_BUSY: database is locked');
    }
    return super.loadPreKey(kind, id);
  }
}

describe('a local storage fault while opening a first message', () => {
  const servers = useTestServer();
  const { track } = servers;

  it('is retried and the message arrives; nothing is rejected', async () => {
    const store = new FlakyPreKeyStore();
    const bob = track(await connectTestClient(servers.srv.url, 'fbob', { ratchet: store }));
    const alice = track(await connectTestClient(servers.srv.url, 'falice'));
    const rejectedReceipts: string[] = [];
    alice.client.on('unreadable', (u) => rejectedReceipts.push(u.reason));
    // Armed after bob's prekeys are published: the next reads are the initial message's.
    store.failures = 1;
    await alice.client.send('fbob', 'first contact');
    expect((await bob.waitFor(1)).map((m) => m.body)).toEqual(['first contact']);
    expect(bob.rejected).toEqual([]);
    await alice.client.send('fbob', 'and the session works');
    await bob.waitFor(2);
    expect(rejectedReceipts).toEqual([]);
  });
});
