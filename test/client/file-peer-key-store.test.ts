/**
 * A peer store shared by several writers of one user (processes on peers.json, tabs on IndexedDB): pins
 * written at the same time by different writers all survive, and first use pins once. For the file: a
 * writer waits for a live lock, and a lock left by a dead process is broken.
 */
import { mkdtempSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { STALE_LOCK_MS, withFileLock } from '../../src/client/node/atomic-file.js';
import { FilePeerKeyStore } from '../../src/client/node/file-stores.js';
import type { PeerKeyStore, PinnedPeer } from '../../src/client/stores.js';
import { removeDir } from '../helpers/test-server.js';
import { newIdbAccount, reopenIdbAccount } from '../helpers/browser-stores.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

function peersPath(): string {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-peers-'));
  dirs.push(dir);
  return join(dir, 'alice', 'peers.json');
}

const pin = (username: string): PinnedPeer => ({
  username,
  signingKey: { kty: 'OKP', crv: 'Ed25519', x: 'x' },
  encryptionKey: { kty: 'RSA', n: 'n', e: 'AQAB' },
  signingKeyThumbprint: `s-${username}`,
  encryptionKeyThumbprint: `e-${username}`,
  pinnedAt: 1,
  verified: false,
}) as PinnedPeer;

describe('FilePeerKeyStore shared by several writers', () => {
  it('waits while another process holds the lock, then writes', async () => {
    const path = peersPath();
    const store = new FilePeerKeyStore(path);
    let release!: () => void;
    let acquired!: () => void;
    const locked = new Promise<void>((r) => (acquired = r));
    const holding = withFileLock(path, () => {
      acquired();
      return new Promise<void>((r) => (release = r));
    });
    await locked;
    let written = false;
    const put = store.put(pin('carol')).then(() => (written = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(written).toBe(false);
    release();
    await holding;
    await put;
    expect((await store.get('carol'))?.signingKeyThumbprint).toBe('s-carol');
  });

  it('breaks a lock left behind by a process that died holding it', async () => {
    const path = peersPath();
    const store = new FilePeerKeyStore(path);
    await store.put(pin('dave')); // creates the folder
    writeFileSync(`${path}.lock`, '');
    const old = (Date.now() - STALE_LOCK_MS - 5_000) / 1000;
    utimesSync(`${path}.lock`, old, old);
    await store.put(pin('erin'));
    expect((await store.all()).map((p) => p.username).sort()).toEqual(['dave', 'erin']);
    expect(existsSync(`${path}.lock`)).toBe(false);
  });
});

/**
 * Two writers on one store, and a fresh reader of it: two processes on one peers.json, or two
 * connections (two tabs) to one IndexedDB database.
 */
type Writers = [PeerKeyStore, PeerKeyStore, () => Promise<PeerKeyStore>];
const writers: Array<[string, () => Promise<Writers>]> = [
  [
    'file',
    async () => {
      const path = peersPath();
      return [new FilePeerKeyStore(path), new FilePeerKeyStore(path), async () => new FilePeerKeyStore(path)];
    },
  ],
  [
    'indexeddb',
    async () => {
      const first = await newIdbAccount();
      return [first.peers(), (await reopenIdbAccount(first.username)).peers(), async () => (await reopenIdbAccount(first.username)).peers()];
    },
  ],
];

describe.each(writers)('%s peer store shared by several writers', (_kind, twoWriters) => {
  it('keeps every pin when two store instances (two processes) pin different peers at once', async () => {
    const [first, second] = await twoWriters();
    const names = Array.from({ length: 30 }, (_, i) => `peer${i}`);
    await Promise.all(names.map((name, i) => (i % 2 === 0 ? first : second).put(pin(name))));
    const stored = (await first.all()).map((p) => p.username).sort();
    expect(stored).toEqual([...names].sort());
  });

  it('first use pins once: two processes meeting bob at once with different answers both end with the one pin on disk', async () => {
    const [first, second, reopen] = await twoWriters();
    const fromFirst = { ...pin('bob'), signingKeyThumbprint: 's-first' };
    const fromSecond = { ...pin('bob'), signingKeyThumbprint: 's-second' };
    const [a, b] = await Promise.all([first.putIfAbsent(fromFirst), second.putIfAbsent(fromSecond)]);
    expect(a.signingKeyThumbprint).toBe(b.signingKeyThumbprint);
    expect(['s-first', 's-second']).toContain(a.signingKeyThumbprint);
    expect((await (await reopen()).get('bob'))?.signingKeyThumbprint).toBe(a.signingKeyThumbprint);
    // A later first-use attempt changes nothing and answers with the existing pin.
    expect((await first.putIfAbsent({ ...pin('bob'), signingKeyThumbprint: 's-third' })).signingKeyThumbprint).toBe(a.signingKeyThumbprint);
  });
});
