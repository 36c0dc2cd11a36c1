/** Both ServerStore implementations, and inputs for them, for the contract tests. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryServerStore } from '../../src/server/store/memory-store.js';
import type { EnqueueInput, EnqueueResult, PreKeyUpload, QueuedEnvelope, ServerStore } from '../../src/server/store/server-store.js';
import { SqliteServerStore } from '../../src/server/store/sqlite-store.js';
import { removeDir } from '../helpers/test-server.js';

export const quota = { maxCount: 1000, maxBytes: 1_000_000 };

let n = 0;
/** One copy from alice/1 to bob/1 with a fresh server id and client id, unless overridden. */
export function input(over: Partial<EnqueueInput> = {}): EnqueueInput {
  n++;
  return {
    id: `srv${n}`,
    sender: 'alice',
    senderDevice: 1,
    recipient: 'bob',
    recipientDevice: 1,
    clientId: `client-id-${n}`.padEnd(16, 'x'),
    sentAt: 1000 + n,
    expiresAt: 10_000_000,
    envelope: `{"n":${n}}`,
    ...over,
  };
}

export function stored(r: EnqueueResult): QueuedEnvelope {
  if (r.status !== 'stored') throw new Error(`expected stored, got ${r.status}`);
  return r.message;
}

const dirs: string[] = [];

export function tempStoreDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-store-'));
  dirs.push(dir);
  return dir;
}

export function cleanupStores(): void {
  for (const d of dirs.splice(0)) removeDir(d);
}

export const backends: Array<[string, () => ServerStore]> = [
  ['memory', () => new MemoryServerStore()],
  ['sqlite', () => new SqliteServerStore(tempStoreDir())],
];

export const key = (tag: string, length = 43) => tag.padEnd(length, 'A');
export const sig = (tag: string) => tag.padEnd(86, 'S');

/** A prekey upload of recognisable strings (the store checks no signatures: the handler did). */
export function upload(over: Partial<PreKeyUpload> = {}, tag = ''): PreKeyUpload {
  return {
    identity: { dhKey: key(`ik1${tag}`), binding: sig('b1') },
    signedPreKey: { id: 7, publicKey: key(`spk7${tag}`), signature: sig('s7') },
    lastResortKemPreKey: { id: 1000, publicKey: key('lr', 2091), signature: sig('lr') },
    oneTimePreKeys: [1, 2, 3].map((id) => ({ id, publicKey: key(`opk${id}${tag}`) })),
    kemPreKeys: [1, 2].map((id) => ({ id, publicKey: key(`kem${id}`, 2091), signature: sig(`k${id}`) })),
    ...over,
  };
}
