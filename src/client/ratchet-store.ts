/**
 * Where a client keeps its ratchet-mode secrets, one record per key (libsignal's store granularity): the
 * X25519 identity (written once), signed prekeys, one-time X25519 prekeys and ML-KEM prekeys by id, the
 * handed-out marks of one-time keys, the initial messages accepted under a last-resort key, the next-id
 * counters, and one session per address, i.e. per device of a peer (the e2ee session-record pickle plus
 * the server ids it has decrypted, so a redelivered envelope is recognised as a duplicate once its message
 * key is gone). A username alone names the peer's device 1 (address.ts).
 * Nothing on the message path loads more than the records it names: a plain ratchet message reads its
 * sender device's session only; an initial message also reads the three prekeys it names (session-manager.ts).
 * Stores keep JSON only; persistent implementations must encrypt it at rest (node/sqlite-ratchet-store.ts).
 *
 * Two processes of one user (a `receive` and a `send`, say) share one store, so every write is safe
 * against the other process without a lock held across awaits:
 *  - sessions are compare-and-swap on a per-address version: a session saved over a newer one would
 *    reuse message keys or forget a DH ratchet step; a save that lost the race returns false and the
 *    caller redoes its work on the fresh entry (session-manager.ts). An address's versions never repeat:
 *    deleting a session stores an empty record at the next version (EMPTY_SESSION), so a writer that
 *    loaded the deleted session cannot save over its deletion, nor over a session started after it;
 *  - new prekeys are INSERT-only under ids reserved atomically (reservePreKeyIds), so a refill never
 *    overwrites or loses another process's keys;
 *  - a consumed one-time key is deleted by one DELETE that says whether it deleted: exactly once; an
 *    initial message's used keys go in the same transaction as the save of the session it created
 *    (PreKeysUsed), so they are gone exactly when that session exists;
 *  - the current signed prekey pointer is compare-and-swap (two rotations at once: one wins).
 */
import type { SessionRecordPickle } from '../e2ee/ratchet/pickle.js';
import type { KemPreKeyKind } from '../e2ee/pqxdh/prekeys.js';
import { addressOf, addressText, type AddressLike } from './address.js';

export interface PeerSessionPickle {
  readonly v: 1;
  readonly record: SessionRecordPickle;
  /** [server id, message id] of envelopes this session decrypted, oldest first (bounded). */
  readonly delivered: readonly (readonly [string, string])[];
}

/**
 * A deleted session: no state, nothing decrypted. Loading it means "no session" (a new one starts with
 * PQXDH); its version, one above the deleted session's, keeps every stale writer out (see above).
 */
export const EMPTY_SESSION: PeerSessionPickle = { v: 1, record: { v: 1, current: null, previous: [] }, delivered: [] };

/** A stored value and its version: 1 after the first save, one more after each. 0 means "absent". */
export interface Versioned<T> {
  readonly value: T;
  readonly version: number;
}

/** Bytes as base64url throughout, as in the v1 keys pickle these records were cut from. */
export interface IdentityKeyPickle {
  readonly publicKey: string;
  readonly secretKey: string;
  /** Ed25519 by IDS over identityBindingMessage(IDS, IK). */
  readonly binding: string;
}
/**
 * The identity key as a store that keeps its secret in WebCrypto gives it back (the browser's,
 * browser/idb-ratchet-store.ts): the public key and binding as in the pickle, the secret as a
 * non-extractable X25519 CryptoKey (usage deriveBits) that no script can read.
 */
export interface HeldIdentityKey {
  readonly publicKey: string;
  readonly binding: string;
  readonly privateKey: CryptoKey;
}
/** The identity key as a store returns it: as bytes (memory, SQLite) or held by WebCrypto. */
export type StoredIdentityKey = IdentityKeyPickle | HeldIdentityKey;
export interface OneTimePreKeyPickle {
  readonly id: number;
  readonly publicKey: string;
  readonly secretKey: string;
}
export interface SignedPreKeyPickle extends OneTimePreKeyPickle {
  readonly signature: string;
  readonly createdAt: number;
}
export interface KemPreKeyPickle extends SignedPreKeyPickle {
  readonly kind: KemPreKeyKind;
}
export interface PreKeyPickles {
  readonly signed: SignedPreKeyPickle;
  readonly oneTime: OneTimePreKeyPickle;
  readonly kem: KemPreKeyPickle;
}
export type PreKeyKind = keyof PreKeyPickles;
/** The kinds with one-time keys: X25519 ('oneTime') and ML-KEM ('kem', its one-time keys only). */
export type OneTimeKind = 'oneTime' | 'kem';

/** A one-time key as hygiene sees it: its id and when it was first noticed handed out (never loads the secret). */
export interface OneTimeKeyEntry {
  readonly id: number;
  readonly handedOutSince?: number;
}

/** The small mutable state beside the records: which prekeys are published, and the next unused ids. */
export interface KeyState {
  readonly currentSignedId: number;
  readonly lastResortId: number;
  /** Ids are never reused, so a late initial message never meets a different key. */
  readonly nextIds: { readonly signed: number; readonly oneTime: number; readonly kem: number };
}

/** A whole key set in the v1 pickle layout: a new user's first keys, or a v0.1 file's keys row being migrated. */
export interface KeySetImport {
  readonly identity: IdentityKeyPickle;
  readonly signed: readonly SignedPreKeyPickle[];
  readonly oneTime: readonly OneTimePreKeyPickle[];
  readonly kem: readonly KemPreKeyPickle[];
  readonly currentSignedId: number;
  readonly lastResortId: number;
  readonly nextIds: KeyState['nextIds'];
  /** lastResortUseId strings (`kemId:signedId:hex(baseKey)`), oldest first. */
  readonly lastResortUses?: readonly string[];
  readonly handedOut?: { readonly oneTime: readonly (readonly [number, number])[]; readonly kem: readonly (readonly [number, number])[] };
}

/** What an initial message used up, written together with the session it created (saveSession). */
export interface PreKeysUsed {
  readonly oneTimeId?: number;
  /** A one-time ML-KEM key (never the last-resort one). */
  readonly kemOneTimeId?: number;
  readonly lastResortUse?: { readonly useId: string; readonly kemPreKeyId: number; readonly signedPreKeyId: number };
}

export interface RatchetStore {
  loadIdentity(): Promise<StoredIdentityKey | undefined>;
  /**
   * First writer wins: stores the whole key set if there is no identity yet (another process may have
   * created one meanwhile; its keys are then kept and `keys` dropped). Returns the identity stored afterwards.
   */
  createKeys(keys: KeySetImport): Promise<StoredIdentityKey>;
  loadKeyState(): Promise<KeyState | undefined>;
  loadPreKey<K extends PreKeyKind>(kind: K, id: number): Promise<PreKeyPickles[K] | undefined>;
  /** Reserves `count` ids of `kind` no one else will get (counters only grow); returns the first. */
  reservePreKeyIds(kind: PreKeyKind, count: number): Promise<number>;
  /** Adds new records (ids from reservePreKeyIds); never overwrites a stored one. */
  addPreKeys<K extends PreKeyKind>(kind: K, records: readonly PreKeyPickles[K][]): Promise<void>;
  /** Deletes a record; true when this call deleted it (of racing callers, exactly one). */
  removePreKey(kind: PreKeyKind, id: number): Promise<boolean>;
  /** Points "current signed prekey" at `id` if it still points at `expected`; false (nothing written) otherwise. */
  setCurrentSignedPreKey(id: number, expected: number): Promise<boolean>;
  /** Ids of all signed prekeys, ascending. */
  listSignedPreKeyIds(): Promise<number[]>;
  /** The one-time keys of a kind with their handed-out marks, ascending by id (the ML-KEM last-resort key is never listed). */
  listOneTimePreKeys(kind: OneTimeKind): Promise<OneTimeKeyEntry[]>;
  /** Sets (a time) or clears (undefined) a one-time key's handed-out mark; nothing if the key is gone. */
  setHandedOut(kind: OneTimeKind, id: number, since: number | undefined): Promise<void>;
  isLastResortUseRecorded(useId: string): Promise<boolean>;
  /**
   * Records an initial message accepted under a last-resort key, then forgets uses whose prekeys are gone
   * (a replay of those can no longer decrypt) and the oldest beyond MAX_LAST_RESORT_USES.
   */
  recordLastResortUse(useId: string, kemPreKeyId: number, signedPreKeyId: number): Promise<void>;
  /**
   * The session with one device of a peer. A persistent store that kept sessions per peer before devices
   * (`session:<peer>`) finds such a session when asked for device 1 and moves it to the address, in one
   * transaction and with its version, so it goes on without a new PQXDH (docs/design/devices-v2.md §11.2).
   */
  loadSession(peer: AddressLike): Promise<Versioned<PeerSessionPickle> | undefined>;
  /**
   * Saves if the stored version is still `expected` (0: no session yet); false otherwise. With `used`,
   * the same transaction deletes those one-time keys and records the last-resort use, only if it saved.
   */
  saveSession(peer: AddressLike, session: PeerSessionPickle, expected: number, used?: PreKeysUsed): Promise<boolean>;
  /**
   * Deletes the sessions with these devices of `user` (devices a verified list no longer has, or device 1
   * after it replaced its identity key: §4.5, §7.5), whatever their versions, in one transaction. Each
   * becomes EMPTY_SESSION at its next version; a device without a session is left alone.
   */
  deleteSessions(user: string, devices: readonly number[]): Promise<void>;
}

/**
 * Recorded last-resort uses kept at most: beyond it the oldest go (their replays would be accepted once
 * more). Entries whose prekeys are gone are dropped anyway: a replay needs them.
 */
export const MAX_LAST_RESORT_USES = 10_000;

/** The [kem id, signed id] a lastResortUseId string names (it starts `kemId:signedId:`). */
export function lastResortUsePrekeys(useId: string): [number, number] {
  const [kemId, signedId] = useId.split(':').map(Number) as [number, number];
  return [kemId, signedId];
}

const isOneTime = (kind: PreKeyKind, record: object): boolean => kind === 'oneTime' || (kind === 'kem' && (record as KemPreKeyPickle).kind === 'one-time');

/** In-memory reference store; keeps JSON text, as a persistent store would, so no live object leaks in. */
export class MemoryRatchetStore implements RatchetStore {
  #identity: string | undefined;
  #state: { currentSignedId: number; lastResortId: number; nextIds: { signed: number; oneTime: number; kem: number } } | undefined;
  readonly #prekeys = { signed: new Map<number, string>(), oneTime: new Map<number, string>(), kem: new Map<number, string>() };
  readonly #handedOut = { oneTime: new Map<number, number>(), kem: new Map<number, number>() };
  /** useId → [kem id, signed id], oldest first. */
  readonly #lastResortUses = new Map<string, readonly [number, number]>();
  readonly #sessions = new Map<string, { json: string; version: number }>();

  async loadIdentity() {
    return this.#identity === undefined ? undefined : (JSON.parse(this.#identity) as IdentityKeyPickle);
  }
  async createKeys(keys: KeySetImport) {
    if (this.#identity === undefined) {
      this.#identity = JSON.stringify(keys.identity);
      this.#state = { currentSignedId: keys.currentSignedId, lastResortId: keys.lastResortId, nextIds: { ...keys.nextIds } };
      for (const kind of ['signed', 'oneTime', 'kem'] as const) for (const r of keys[kind]) this.#prekeys[kind].set(r.id, JSON.stringify(r));
      for (const kind of ['oneTime', 'kem'] as const) for (const [id, since] of keys.handedOut?.[kind] ?? []) if (this.#prekeys[kind].has(id)) this.#handedOut[kind].set(id, since);
      for (const use of keys.lastResortUses ?? []) this.#lastResortUses.set(use, lastResortUsePrekeys(use));
    }
    return (await this.loadIdentity())!;
  }
  async loadKeyState() {
    return this.#state && (JSON.parse(JSON.stringify(this.#state)) as KeyState);
  }
  async loadPreKey<K extends PreKeyKind>(kind: K, id: number) {
    const json = this.#prekeys[kind].get(id);
    return json === undefined ? undefined : (JSON.parse(json) as PreKeyPickles[K]);
  }
  async reservePreKeyIds(kind: PreKeyKind, count: number) {
    if (!this.#state) throw new Error('no local keys yet: createKeys first');
    const first = this.#state.nextIds[kind];
    this.#state.nextIds[kind] += count;
    return first;
  }
  async addPreKeys<K extends PreKeyKind>(kind: K, records: readonly PreKeyPickles[K][]) {
    for (const r of records) if (!this.#prekeys[kind].has(r.id)) this.#prekeys[kind].set(r.id, JSON.stringify(r));
  }
  async removePreKey(kind: PreKeyKind, id: number) {
    if (kind !== 'signed') this.#handedOut[kind].delete(id);
    return this.#prekeys[kind].delete(id);
  }
  async setCurrentSignedPreKey(id: number, expected: number) {
    if (this.#state?.currentSignedId !== expected) return false;
    this.#state.currentSignedId = id;
    return true;
  }
  async listSignedPreKeyIds() {
    return [...this.#prekeys.signed.keys()].sort((a, b) => a - b);
  }
  async listOneTimePreKeys(kind: OneTimeKind) {
    const entries: OneTimeKeyEntry[] = [];
    for (const [id, json] of this.#prekeys[kind]) {
      if (!isOneTime(kind, JSON.parse(json) as object)) continue;
      const since = this.#handedOut[kind].get(id);
      entries.push(since === undefined ? { id } : { id, handedOutSince: since });
    }
    return entries.sort((a, b) => a.id - b.id);
  }
  async setHandedOut(kind: OneTimeKind, id: number, since: number | undefined) {
    if (since === undefined) this.#handedOut[kind].delete(id);
    else if (this.#prekeys[kind].has(id)) this.#handedOut[kind].set(id, since);
  }
  async isLastResortUseRecorded(useId: string) {
    return this.#lastResortUses.has(useId);
  }
  async recordLastResortUse(useId: string, kemPreKeyId: number, signedPreKeyId: number) {
    this.#lastResortUses.set(useId, [kemPreKeyId, signedPreKeyId]);
    for (const [id, [kemId, signedId]] of this.#lastResortUses) {
      if (!this.#prekeys.kem.has(kemId) || !this.#prekeys.signed.has(signedId)) this.#lastResortUses.delete(id);
    }
    while (this.#lastResortUses.size > MAX_LAST_RESORT_USES) this.#lastResortUses.delete(this.#lastResortUses.keys().next().value!);
  }
  async loadSession(peer: AddressLike) {
    const entry = this.#sessions.get(addressText(addressOf(peer)));
    return entry && { value: JSON.parse(entry.json) as PeerSessionPickle, version: entry.version };
  }
  async saveSession(peer: AddressLike, session: PeerSessionPickle, expected: number, used?: PreKeysUsed) {
    const name = addressText(addressOf(peer));
    if ((this.#sessions.get(name)?.version ?? 0) !== expected) return false;
    // A one-time key another session already consumed (the user's other process, racing on another peer's
    // initial message under the same key): refuse, so no two sessions are ever built on one one-time key.
    if (used?.oneTimeId !== undefined && !this.#prekeys.oneTime.has(used.oneTimeId)) return false;
    if (used?.kemOneTimeId !== undefined && !this.#prekeys.kem.has(used.kemOneTimeId)) return false;
    this.#sessions.set(name, { json: JSON.stringify(session), version: expected + 1 });
    if (used?.oneTimeId !== undefined) await this.removePreKey('oneTime', used.oneTimeId);
    if (used?.kemOneTimeId !== undefined) await this.removePreKey('kem', used.kemOneTimeId);
    if (used?.lastResortUse) await this.recordLastResortUse(used.lastResortUse.useId, used.lastResortUse.kemPreKeyId, used.lastResortUse.signedPreKeyId);
    return true;
  }
  async deleteSessions(user: string, devices: readonly number[]) {
    for (const device of devices) {
      const name = addressText({ user, device });
      const entry = this.#sessions.get(name);
      if (entry) this.#sessions.set(name, { json: JSON.stringify(EMPTY_SESSION), version: entry.version + 1 });
    }
  }
}
