/**
 * The client's local keys are one sealed row reloaded for every incoming ratchet message (STYLE.md, "store
 * granularity"). Measured here: that reload (SQLite read, AES-GCM open, JSON.parse, LocalKeys.restore)
 * with the most one-time keys the client now keeps (MAX_LOCAL_*), beside the same reload right after the
 * first upload (same run), and with the stock 0.1 reached under a drain (no cap; 2.4 MB seen).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalKeys, loadOrCreateLocalKeys, MAX_LOCAL_KEM_ONE_TIME_PREKEYS, MAX_LOCAL_ONE_TIME_PREKEYS } from '../src/client/local-prekeys.js';
import { SqliteRatchetStore } from '../src/client/node/sqlite-ratchet-store.js';
import { KEM_ONE_TIME_PREKEY_TARGET, ONE_TIME_PREKEY_TARGET } from '../src/client/prekey-publisher.js';
import { generateKemPreKey, generateOneTimePreKeys } from '../src/e2ee/pqxdh/prekeys.js';
import type { Figure } from './lib/report.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Saves keys with `oneTime` X25519 and `kem` ML-KEM one-time keys; returns the pickle size and the median reload time. */
async function reload(dir: string, name: string, oneTime: number, kem: number, rounds: number): Promise<{ bytes: number; ms: number }> {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const store = await SqliteRatchetStore.open(join(dir, `${name}.sqlite`), secret, name);
  try {
    const keys = await LocalKeys.generate(secret, Date.now());
    for (const k of await generateOneTimePreKeys(1, oneTime)) keys.oneTime.set(k.id, k);
    for (let i = 0; i < kem; i++) keys.kem.set(2 + i, generateKemPreKey(keys.identity, 2 + i, 'one-time'));
    const saved = await store.createKeys(keys.pickle());
    const bytes = JSON.stringify(saved.value).length;
    const times: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const t = performance.now();
      await loadOrCreateLocalKeys(store, secret, Date.now());
      times.push(performance.now() - t);
    }
    return { bytes, ms: median(times) };
  } finally {
    store.close();
  }
}

export async function localKeysBench(mode: 'full' | 'quick' | 'smoke'): Promise<Figure[]> {
  const rounds = { full: 31, quick: 11, smoke: 3 }[mode];
  const dir = mkdtempSync(join(tmpdir(), 'e2ee-chat-bench-keys-'));
  try {
    const fresh = await reload(dir, 'fresh', ONE_TIME_PREKEY_TARGET, KEM_ONE_TIME_PREKEY_TARGET, rounds);
    const capped = await reload(dir, 'capped', MAX_LOCAL_ONE_TIME_PREKEYS, MAX_LOCAL_KEM_ONE_TIME_PREKEYS, rounds);
    // 0.1 under a drain: ~370 ML-KEM one-time keys made a 2.4 MB record (issue 9). Smoke runs skip the keygen.
    const drained = mode === 'smoke' ? undefined : await reload(dir, 'drained', ONE_TIME_PREKEY_TARGET, 370, rounds);
    const baseline = (value: number) => ({ name: 'right after the first upload, same run', value });
    const at = `${MAX_LOCAL_ONE_TIME_PREKEYS} X25519 + ${MAX_LOCAL_KEM_ONE_TIME_PREKEYS} ML-KEM one-time keys`;
    return [
      { section: 'ratchet', name: `local keys pickle at the cap (${at})`, value: capped.bytes / 1024, unit: 'KiB', baseline: baseline(fresh.bytes / 1024), ratio: fresh.bytes / capped.bytes },
      { section: 'ratchet', name: 'local keys reload per incoming message, at the cap (median)', value: capped.ms, unit: 'ms', baseline: baseline(fresh.ms), ratio: fresh.ms / capped.ms },
      ...(drained
        ? [{ section: 'ratchet', name: 'local keys reload per incoming message, 0.1 after a drain (370 ML-KEM keys, no cap)', value: drained.ms, unit: 'ms', baseline: baseline(fresh.ms), ratio: fresh.ms / drained.ms }]
        : []),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
