/**
 * This device's PQXDH keys: the X25519 identity key bound to the user's Ed25519 key, signed prekeys
 * (current plus recently rotated ones), one-time X25519 prekeys and ML-KEM-1024 prekeys (one-time plus
 * the last-resort one). A live `LocalKeys` implements the e2ee PreKeyStore for the responder; its
 * persistent form is a versioned pickle (v1, bytes as base64url) that the RatchetStore seals at rest.
 *
 * Bounded against a hostile peer or server (issue 9): a one-time key that the server no longer lists
 * (it handed it out) but no initial message ever used is deleted ONE_TIME_PREKEY_GRACE_MS after the client
 * first noticed, and each kind of local one-time key is capped (MAX_LOCAL_*), the oldest handed-out first.
 */
import { base64urlDecode as d, base64urlEncode as e } from '../crypto/bytes.js';
import { X25519KeyPair } from '../crypto/x25519.js';
import { LocalIdentity } from '../e2ee/pqxdh/identity.js';
import { generateKemPreKey, generateSignedPreKey, KemPreKeyRecord, type KemPreKeyKind, type OneTimePreKeyRecord, type SignedPreKeyRecord } from '../e2ee/pqxdh/prekeys.js';
import { lastResortUseId, type LastResortUse, type PreKeyStore } from '../e2ee/pqxdh/stores.js';
import { ChatError } from '../protocol/errors.js';
import { DEFAULT_QUEUE_TTL_MS, MAX_STORED_ONE_TIME_PREKEYS } from '../protocol/limits.js';
import type { RatchetStore } from './ratchet-store.js';

interface KeyPairPickle {
  readonly id: number;
  readonly publicKey: string;
  readonly secretKey: string;
}

export interface LocalKeysPickle {
  readonly v: 1;
  readonly identity: { readonly publicKey: string; readonly secretKey: string; readonly binding: string };
  readonly signed: readonly (KeyPairPickle & { readonly signature: string; readonly createdAt: number })[];
  readonly currentSignedId: number;
  readonly oneTime: readonly KeyPairPickle[];
  readonly kem: readonly (KeyPairPickle & { readonly kind: KemPreKeyKind; readonly signature: string; readonly createdAt: number })[];
  readonly lastResortId: number;
  /** Next unused ids: ids are never reused, so a late initial message never meets a different key. */
  readonly nextIds: { readonly signed: number; readonly oneTime: number; readonly kem: number };
  /** lastResortUseId of every initial message accepted under a last-resort ML-KEM key (absent before 0.1.1). */
  readonly lastResortUses?: readonly string[];
  /** [id, ms since the epoch] of one-time keys first noticed missing from the server's lists (absent before 0.2). */
  readonly handedOut?: { readonly oneTime: readonly (readonly [number, number])[]; readonly kem: readonly (readonly [number, number])[] };
}

/**
 * How long a one-time key the server handed out may wait for the initial message that uses it, counted
 * from when this client first noticed it gone from the server's list (never earlier than the hand-out).
 * The initiator sends at once, or from its outbox when it next reaches the server: we allow a week for
 * that. The server then keeps the message up to its queue TTL (DEFAULT_QUEUE_TTL_MS, 30 days): past both,
 * no initial message naming the key can still arrive, and keeping the key only helps an attacker who
 * drains our keys grow this record.
 */
export const ONE_TIME_PREKEY_OUTBOX_ALLOWANCE_MS = 7 * 24 * 60 * 60 * 1000;
export const ONE_TIME_PREKEY_GRACE_MS = DEFAULT_QUEUE_TTL_MS + ONE_TIME_PREKEY_OUTBOX_ALLOWANCE_MS;

/**
 * Local one-time X25519 keys kept at most (~110 B each in the pickle): three times the refill target
 * (ONE_TIME_PREKEY_TARGET, 100), so 200 handed-out keys can wait out their grace period beside a full stock.
 */
export const MAX_LOCAL_ONE_TIME_PREKEYS = 300;

/**
 * Local one-time ML-KEM keys kept at most: ~6.4 KB each in the pickle, which is reloaded for every incoming
 * message, so twice the refill target (KEM_ONE_TIME_PREKEY_TARGET, 40): a full stock plus 40 handed-out
 * keys waiting for their initial messages, ~520 KB with the rest (0.1 reached 2.4 MB under a drain). Beyond
 * it the oldest handed-out keys go first (their initial messages, if any, then fail and are reported unreadable).
 */
export const MAX_LOCAL_KEM_ONE_TIME_PREKEYS = 80;

/** What the server says it still stores (`prekeys.count` / `prekeys.upload` answers from 0.2 on). */
export interface ServerOneTimeIds {
  readonly oneTimeIds?: unknown;
  readonly kemOneTimeIds?: unknown;
}

/** A list we can act on: integers, no more than the server may store. Anything else counts as absent. */
function idList(value: unknown): Set<number> | undefined {
  if (!Array.isArray(value) || value.length > MAX_STORED_ONE_TIME_PREKEYS || !value.every((id) => Number.isInteger(id))) return undefined;
  return new Set(value as number[]);
}

/**
 * Recorded last-resort uses kept at most: beyond it the oldest go (their replays would be accepted once
 * more). Entries whose prekeys are gone are dropped anyway: a replay needs them.
 */
export const MAX_LAST_RESORT_USES = 10_000;

const pair = (p: { publicKey: string; secretKey: string }) => X25519KeyPair.restore(d(p.secretKey), d(p.publicKey));

export class LocalKeys implements PreKeyStore {
  readonly signed = new Map<number, SignedPreKeyRecord>();
  readonly oneTime = new Map<number, OneTimePreKeyRecord>();
  readonly kem = new Map<number, KemPreKeyRecord>();
  /** lastResortUseId → [kem id, signed prekey id], oldest first. */
  readonly lastResortUses = new Map<string, readonly [number, number]>();
  /** One-time key id → when we first noticed the server no longer lists it (handed out), per kind. */
  readonly handedOut = { oneTime: new Map<number, number>(), kem: new Map<number, number>() };

  private constructor(
    readonly identity: LocalIdentity,
    public currentSignedId: number,
    public lastResortId: number,
    public nextIds: { signed: number; oneTime: number; kem: number },
  ) {}

  /** A new identity key, signed prekey 1 and last-resort ML-KEM prekey 1 (one-time keys come later). */
  static async generate(signingSecretKey: Uint8Array, now: number): Promise<LocalKeys> {
    const identity = await LocalIdentity.generate(signingSecretKey);
    const keys = new LocalKeys(identity, 1, 1, { signed: 2, oneTime: 1, kem: 2 });
    keys.signed.set(1, await generateSignedPreKey(identity, 1, { clock: () => now }));
    keys.kem.set(1, generateKemPreKey(identity, 1, 'last-resort', { clock: () => now }));
    return keys;
  }

  static restore(p: LocalKeysPickle, signingSecretKey: Uint8Array): LocalKeys {
    if (p.v !== 1) throw new TypeError(`unsupported local keys pickle version ${String(p.v)}`);
    const identity = LocalIdentity.restore(signingSecretKey, pair(p.identity), d(p.identity.binding));
    const keys = new LocalKeys(identity, p.currentSignedId, p.lastResortId, { ...p.nextIds });
    for (const s of p.signed) keys.signed.set(s.id, { id: s.id, keyPair: pair(s), signature: d(s.signature), createdAt: s.createdAt });
    for (const o of p.oneTime) keys.oneTime.set(o.id, { id: o.id, keyPair: pair(o) });
    for (const k of p.kem) {
      keys.kem.set(k.id, new KemPreKeyRecord({ id: k.id, kind: k.kind, publicKey: d(k.publicKey), secretKey: d(k.secretKey), signature: d(k.signature), createdAt: k.createdAt }));
    }
    for (const id of p.lastResortUses ?? []) {
      const [kemId, signedId] = id.split(':').map(Number) as [number, number];
      keys.lastResortUses.set(id, [kemId, signedId]);
    }
    for (const [id, since] of p.handedOut?.oneTime ?? []) keys.handedOut.oneTime.set(id, since);
    for (const [id, since] of p.handedOut?.kem ?? []) keys.handedOut.kem.set(id, since);
    return keys;
  }

  pickle(): LocalKeysPickle {
    const kp = (id: number, p: X25519KeyPair) => ({ id, publicKey: e(p.publicKey), secretKey: e(p.exportSecretKey()) });
    return {
      v: 1,
      identity: { publicKey: e(this.identity.dhKeyPair.publicKey), secretKey: e(this.identity.dhKeyPair.exportSecretKey()), binding: e(this.identity.binding) },
      signed: [...this.signed.values()].map((s) => ({ ...kp(s.id, s.keyPair), signature: e(s.signature), createdAt: s.createdAt })),
      currentSignedId: this.currentSignedId,
      oneTime: [...this.oneTime.values()].map((o) => kp(o.id, o.keyPair)),
      kem: [...this.kem.values()].map((k) => ({ id: k.id, kind: k.kind, publicKey: e(k.publicKey), secretKey: e(k.exportSecretKey()), signature: e(k.signature), createdAt: k.createdAt })),
      lastResortId: this.lastResortId,
      nextIds: { ...this.nextIds },
      lastResortUses: [...this.lastResortUses.keys()],
      handedOut: {
        oneTime: [...this.handedOut.oneTime].filter(([id]) => this.oneTime.has(id)),
        kem: [...this.handedOut.kem].filter(([id]) => this.kem.has(id)),
      },
    };
  }

  get currentSignedPreKey(): SignedPreKeyRecord {
    return this.signed.get(this.currentSignedId)!;
  }

  get lastResortKemPreKey(): KemPreKeyRecord {
    return this.kem.get(this.lastResortId)!;
  }

  // ---- PreKeyStore (read by pqxdhRespond; removals after the initial ciphertext decrypted) ----
  async getSignedPreKey(id: number) {
    return this.signed.get(id);
  }
  async saveSignedPreKey(record: SignedPreKeyRecord) {
    this.signed.set(record.id, record);
  }
  async getOneTimePreKey(id: number) {
    return this.oneTime.get(id);
  }
  async saveOneTimePreKey(record: OneTimePreKeyRecord) {
    this.oneTime.set(record.id, record);
  }
  async removeOneTimePreKey(id: number) {
    this.oneTime.delete(id);
    this.handedOut.oneTime.delete(id);
  }
  async getKemPreKey(id: number) {
    return this.kem.get(id);
  }
  async saveKemPreKey(record: KemPreKeyRecord) {
    this.kem.set(record.id, record);
  }
  async removeKemPreKey(id: number) {
    if (this.kem.get(id)?.kind !== 'one-time') return;
    this.kem.delete(id);
    this.handedOut.kem.delete(id);
  }
  async isLastResortUseRecorded(use: LastResortUse) {
    return this.lastResortUses.has(lastResortUseId(use));
  }
  async recordLastResortUse(use: LastResortUse) {
    this.lastResortUses.set(lastResortUseId(use), [use.kemPreKeyId, use.signedPreKeyId]);
    for (const [id, [kemId, signedId]] of this.lastResortUses) {
      if (!this.kem.has(kemId) || !this.signed.has(signedId)) this.lastResortUses.delete(id);
    }
    while (this.lastResortUses.size > MAX_LAST_RESORT_USES) this.lastResortUses.delete(this.lastResortUses.keys().next().value!);
  }

  // ---- one-time key hygiene (issue 9) ----

  /** Ids of local one-time keys of a kind (ML-KEM: one-time ones only; the last-resort key is never touched). */
  #oneTimeIds(kind: 'oneTime' | 'kem'): number[] {
    return kind === 'oneTime' ? [...this.oneTime.keys()] : [...this.kem.values()].filter((k) => k.kind === 'one-time').map((k) => k.id);
  }

  #delete(kind: 'oneTime' | 'kem', id: number): void {
    (kind === 'oneTime' ? this.oneTime : this.kem).delete(id);
    this.handedOut[kind].delete(id);
  }

  /**
   * Applies what the server says it still stores, per kind: a local key it does not list is handed out
   * from now on (unless already marked), a listed one is not (the mark was a race with an upload), and a
   * key handed out ONE_TIME_PREKEY_GRACE_MS ago or more is deleted. A kind whose list is absent or
   * malformed (a server before 0.2) is left alone. Only keys below the highest listed id are marked: ids
   * only grow and the server hands out the lowest first, so a key above them all may simply not be
   * uploaded yet (by this run, or by another process of this user right now). Returns whether anything changed.
   */
  reconcileOneTimeKeys(server: ServerOneTimeIds, now: number): boolean {
    let changed = false;
    for (const [kind, listed] of [['oneTime', idList(server.oneTimeIds)], ['kem', idList(server.kemOneTimeIds)]] as const) {
      if (!listed) continue;
      const marks = this.handedOut[kind];
      const highest = Math.max(-1, ...listed);
      for (const id of this.#oneTimeIds(kind)) {
        const since = marks.get(id);
        if (listed.has(id)) {
          if (since !== undefined) (marks.delete(id), (changed = true));
        } else if (since !== undefined) {
          if (now - since >= ONE_TIME_PREKEY_GRACE_MS) (this.#delete(kind, id), (changed = true));
        } else if (id < highest) {
          marks.set(id, now); // above every listed id it may not be uploaded yet; a later refill's higher ids will tell
          changed = true;
        }
      }
    }
    return changed;
  }

  /**
   * Caps the local one-time keys of each kind (MAX_LOCAL_*): handed-out keys go first, the earliest
   * noticed first; then, only if still over (a server without id lists), the oldest ids: a server hands
   * out the lowest ids first, and the caps exceed what it holds of ours (at most one refill target, or
   * two when processes race), so those were handed out long ago. Returns whether anything was deleted.
   */
  capOneTimeKeys(): boolean {
    let changed = false;
    for (const [kind, cap] of [['oneTime', MAX_LOCAL_ONE_TIME_PREKEYS], ['kem', MAX_LOCAL_KEM_ONE_TIME_PREKEYS]] as const) {
      const ids = this.#oneTimeIds(kind);
      if (ids.length <= cap) continue;
      const marks = this.handedOut[kind];
      const handed = ids.filter((id) => marks.has(id)).sort((a, b) => marks.get(a)! - marks.get(b)! || a - b);
      const rest = ids.filter((id) => !marks.has(id)).sort((a, b) => a - b);
      for (const id of [...handed, ...rest].slice(0, ids.length - cap)) this.#delete(kind, id);
      changed = true;
    }
    return changed;
  }

  toJSON() {
    return { type: 'LocalKeys', identity: this.identity.toJSON(), signed: this.signed.size, oneTime: this.oneTime.size, kem: this.kem.size };
  }
}

async function loadOrCreateVersioned(store: RatchetStore, signingSecretKey: Uint8Array, now: number): Promise<{ keys: LocalKeys; version: number }> {
  const saved = (await store.loadKeys()) ?? (await store.createKeys((await LocalKeys.generate(signingSecretKey, now)).pickle()));
  return { keys: LocalKeys.restore(saved.value, signingSecretKey), version: saved.version };
}

/** The stored keys, or new ones saved first-writer-wins (two processes of one user agree on one set). */
export async function loadOrCreateLocalKeys(store: RatchetStore, signingSecretKey: Uint8Array, now: number): Promise<LocalKeys> {
  return (await loadOrCreateVersioned(store, signingSecretKey, now)).keys;
}

/** Attempts before a read-modify-write gives up; each lost race means another process saved meanwhile. */
export const MAX_STORE_ATTEMPTS = 10;

/**
 * Read-modify-write of the local keys that another process of the same user cannot undo: `change` edits
 * a freshly loaded copy and says whether to save it; a save that lost the race (compare-and-swap,
 * ratchet-store.ts) runs `change` again on the newer keys.
 */
export async function updateLocalKeys<T>(
  store: RatchetStore,
  signingSecretKey: Uint8Array,
  now: number,
  change: (keys: LocalKeys) => Promise<{ save: boolean; result: T }>,
): Promise<T> {
  for (let attempt = 0; attempt < MAX_STORE_ATTEMPTS; attempt++) {
    const { keys, version } = await loadOrCreateVersioned(store, signingSecretKey, now);
    const { save, result } = await change(keys);
    if (!save || (await store.saveKeys(keys.pickle(), version))) return result;
  }
  throw new ChatError('internal', `local keys kept changing under us (${MAX_STORE_ATTEMPTS} attempts)`);
}
